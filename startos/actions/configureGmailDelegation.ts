import { sdk } from '../sdk'
import { actionResult, readDataFile, runPythonAction } from '../utils'

const { InputSpec, Value } = sdk

export const delegationInput = InputSpec.of({
  'service-account-json': Value.textarea({
    name: 'Service account key (JSON)',
    description:
      'The whole content of the JSON key file downloaded from Google Cloud (IAM & Admin > ' +
      'Service Accounts > Keys > Add key > JSON). Pasting it on one line is fine. It is never ' +
      'shown again: run this action again to replace it.',
    required: true,
    default: null,
    placeholder: '{"type": "service_account", ...}',
  }),
  'own-domains': Value.text({
    name: "Fund's own email domains",
    description:
      'Comma-separated, e.g. fund.com, fund-partners.com. Mail among these domains only is ' +
      "internal and not captured. Leave empty to derive them from the team's mailboxes.",
    required: false,
    default: null,
    placeholder: 'fund.com, fund-partners.com',
  }),
})

/** Configure Gmail Delegation: start9/actions/configure-gmail-delegation in the image. */
export const configureGmailDelegation = sdk.Action.withInput(
  'configure-gmail-delegation',
  {
    name: 'Configure Gmail Delegation',
    description:
      "Stores the Google service account key used to read (gmail.readonly) and draft in " +
      "(gmail.compose) each team member's Gmail, and the fund's own email domains. The result " +
      'shows the Client ID and the exact scopes to authorize in the Google Admin console. The ' +
      'key is checked before anything is saved; it stays on this server and in its encrypted backups.',
    warning: null,
    allowedStatuses: 'any',
    group: 'Set-up',
    visibility: 'enabled',
  },
  delegationInput,
  // The key is a secret and is never read back; the domains are shown as saved.
  async () => {
    const domains = await readDataFile('secrets/dwd/own_domains')
    return domains ? { 'own-domains': domains.split(/\s+/).join(', ') } : null
  },
  async ({ effects, input }) =>
    actionResult('Delegation client ID', await runPythonAction(effects, 'configure-gmail-delegation', input)),
)
