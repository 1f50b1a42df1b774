import { smtpPrefill } from '@start9labs/start-sdk'
import { smtpChoice } from '../fileModels/smtpChoice.json'
import { sdk } from '../sdk'
import { chosenSmtpInput, savedSmtpSettings, systemSmtpInput, withoutPassword, withSavedPassword } from '../smtp'
import { actionResult, runPythonAction } from '../utils'

const { InputSpec } = sdk

export const smtpInput = InputSpec.of({ smtp: sdk.inputSpecConstants.smtpInputSpec })

/**
 * Configure Digest SMTP with the SDK's standard SMTP form: off, this server's own SMTP
 * settings (followed when they change, see main.ts), or a custom account with provider presets.
 * The image's configure-digest-smtp action checks and writes the settings in every case.
 */
export const configureDigestSmtp = sdk.Action.withInput(
  'configure-digest-smtp',
  async () => {
    const stored = await smtpChoice.read((file) => file.smtp).once()
    const legacy = stored ? null : (await savedSmtpSettings()).unshown
    return {
      name: 'Configure Digest SMTP',
      description:
        'Sets the SMTP account the daily internal digest uses when Gmail delegation cannot send ' +
        "it: none, this server's own SMTP settings, or a dedicated account. Takes effect with the " +
        'next digest, no restart needed. A password stays on this server and in its encrypted backups.',
      warning: legacy
        ? `The SMTP settings in force (${legacy}) cannot be shown in this form; saving it replaces them.`
        : null,
      allowedStatuses: 'any',
      group: 'Digest',
      visibility: 'enabled',
    }
  },
  smtpInput,
  async () => {
    const stored = await smtpChoice.read((file) => file.smtp).once()
    const choice = stored ? await withSavedPassword(stored) : (await savedSmtpSettings()).choice
    return choice ? { smtp: smtpPrefill(choice) } : null
  },
  async ({ effects, input }) => {
    const choice = input.smtp
    let settings = chosenSmtpInput(choice)
    if (settings === null) {
      const system = await sdk.getSystemSmtp(effects).once()
      if (!system) {
        throw new Error(
          "This server has no SMTP settings yet: set them under System > SMTP, or choose a custom account.",
        )
      }
      settings = systemSmtpInput(system, choice.selection === 'system' ? (choice.value.customFrom ?? null) : null)
    }
    const saved = await runPythonAction(effects, 'configure-digest-smtp', settings)
    await smtpChoice.write(effects, { smtp: withoutPassword(choice) })
    return actionResult('Digest SMTP', saved)
  },
)
