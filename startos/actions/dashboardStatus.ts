import { T } from '@start9labs/start-sdk'
import { sdk } from '../sdk'
import { failureReason, parseJson, runInImage, uiPort } from '../utils'

type Property = { value: string; description: string; copyable: boolean }

/** The properties the image computes (start9/write-properties --print). */
async function properties(effects: T.Effects): Promise<Record<string, Property>> {
  const result = await runInImage(effects, 'dashboard-status', ['/opt/start9/write-properties', '--print'], '{}', 60_000)
  if (result.exitCode !== 0) throw new Error(failureReason(result))
  const parsed = parseJson<{ data?: Record<string, Property> }>(result.stdout)
  if (!parsed?.data) throw new Error('the status printed no properties')
  return parsed.data
}

/** The dashboard's addresses, as StartOS serves them (LAN, .local, Tor, domains). */
async function addresses(effects: T.Effects): Promise<string[]> {
  const host = await sdk.host.getOwn(effects, 'main').once()
  const ui = host?.bindings[uiPort]?.interfaces['main']
  return ui ? ui.addressInfo.nonLocal.format() : []
}

/**
 * Dashboard address and status: what StartOS 0.3.5 showed on the service's Properties page
 * (0.4 has none), as one action result.
 */
export const dashboardStatus = sdk.Action.withoutInput(
  'dashboard-status',
  {
    name: 'Dashboard Address and Status',
    description:
      "Where to open the dashboard, and how capture, the digest and the set-up stand: admins, " +
      'mailboxes syncing or needing a fix, the last digest, the delegation client ID and the ' +
      'digest settings.',
    warning: null,
    allowedStatuses: 'any',
    group: null,
    visibility: 'enabled',
  },
  async ({ effects }) => {
    const urls = await addresses(effects)
    const members: T.ActionResultMember[] = [
      {
        type: 'group',
        name: 'Dashboard addresses',
        description: "Sign in with an account made by the Create Admin action.",
        value: urls.length
          ? urls.map((url) => ({
              type: 'single' as const,
              name: url,
              description: null,
              value: url,
              copyable: true,
              qr: false,
              masked: false,
            }))
          : [
              {
                type: 'single' as const,
                name: 'Address',
                description: null,
                value: "Open it with Launch UI, or from this service's Interfaces page",
                copyable: false,
                qr: false,
                masked: false,
              },
            ],
      },
    ]
    for (const [name, property] of Object.entries(await properties(effects))) {
      if (name === 'Dashboard') continue // the addresses above say more
      members.push({
        type: 'single',
        name,
        description: property.description,
        value: property.value,
        copyable: property.copyable,
        qr: false,
        masked: false,
      })
    }
    return { version: '1', title: 'IR Mail Desk', message: null, result: { type: 'group', value: members } }
  },
)
