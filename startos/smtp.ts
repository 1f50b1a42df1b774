import { SmtpSelection, T } from '@start9labs/start-sdk'
import { readDataFile } from './utils'

/** The input of the image's configure-digest-smtp action. */
export type SmtpActionInput = Record<string, string | number | boolean | null>

export const SMTP_OFF: SmtpActionInput = { enabled: false }

/** The server's own SMTP settings (StartOS > System > SMTP) as the action's input. */
export function systemSmtpInput(system: T.SmtpValue | null, customFrom: string | null): SmtpActionInput {
  if (!system) return SMTP_OFF
  return {
    host: system.host,
    port: system.port,
    security: system.security === 'tls' ? 'ssl' : 'starttls',
    username: system.username || null,
    password: system.password || null,
    from: customFrom || system.from,
  }
}

/** A choice of the SDK's SMTP form as the action's input; null for "the server's own". */
export function chosenSmtpInput(choice: SmtpSelection): SmtpActionInput | null {
  if (choice.selection === 'disabled') return SMTP_OFF
  if (choice.selection === 'system') return null
  const server = choice.value.provider.value
  return {
    host: server.host,
    port: Number(server.security.value.port),
    security: server.security.selection === 'tls' ? 'ssl' : 'starttls',
    username: server.username || null,
    password: server.password || null,
    from: server.from,
  }
}

/** The choice as stored: the password left out (it stays in secrets/smtp/password). */
export function withoutPassword(choice: SmtpSelection): SmtpSelection {
  if (choice.selection !== 'custom') return choice
  const provider = choice.value.provider
  return { selection: 'custom', value: { provider: { ...provider, value: { ...provider.value, password: null } } } }
}

/** A stored custom choice with the saved password put back, for the form. */
export async function withSavedPassword(choice: SmtpSelection): Promise<SmtpSelection> {
  if (choice.selection !== 'custom') return choice
  const provider = choice.value.provider
  const password = await readDataFile('secrets/smtp/password')
  return { selection: 'custom', value: { provider: { ...provider, value: { ...provider.value, password } } } }
}

/**
 * SMTP settings saved before this package existed (by the 0.3.5 package, or by hand) as a
 * choice of the form, when the form can show them; `unshown` describes those it cannot (a relay
 * without encryption, or a port the form does not offer), which stay in force until saved over.
 */
export async function savedSmtpSettings(): Promise<{ choice: SmtpSelection | null; unshown: string | null }> {
  const read = (name: string) => readDataFile(`secrets/smtp/${name}`)
  const host = await read('host')
  if (!host) return { choice: { selection: 'disabled', value: {} }, unshown: null }
  const port = (await read('port')) ?? ''
  const security = (await read('security')) ?? ''
  const shown =
    (security === 'ssl' && port === '465') || (security === 'starttls' && ['25', '587', '2525'].includes(port))
  if (!shown) return { choice: null, unshown: `${host}:${port} (${security})` }
  const choice: SmtpSelection = {
    selection: 'custom',
    value: {
      provider: {
        selection: 'other',
        value: {
          host,
          from: (await read('from')) ?? '',
          username: (await read('username')) ?? '',
          password: await read('password'),
          security: { selection: security === 'ssl' ? 'tls' : 'starttls', value: { port } },
        },
      },
    },
  }
  return { choice, unshown: null }
}
