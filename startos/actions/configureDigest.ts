import { sdk } from '../sdk'
import { actionResult, readDataFile, runPythonAction } from '../utils'

const { InputSpec, Value } = sdk

export const digestInput = InputSpec.of({
  timezone: Value.text({
    name: 'Time zone',
    description:
      "The fund's IANA time zone, e.g. Europe/London, America/New_York or Asia/Singapore. The " +
      "digest's day and its send hour (set on the dashboard's Digest page) follow it.",
    required: true,
    default: 'UTC',
    placeholder: 'Europe/London',
    patterns: [
      { regex: '^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$', description: 'An IANA time zone name such as Europe/London or UTC.' },
    ],
  }),
  'llm-url': Value.text({
    name: 'Local LLM server URL',
    description:
      "Optional. The base URL of the fund's own OpenAI-compatible server on its own network, e.g. " +
      'http://llm.fund.lan:8000. The digest is not anonymized, so the service refuses a server ' +
      'whose address is public (a cloud service). Leave empty to write the digest without one.',
    required: false,
    default: null,
    placeholder: 'http://llm.fund.lan:8000',
    patterns: [{ regex: '^https?://\\S+$', description: "An http:// or https:// URL on the fund's network." }],
  }),
  'llm-model': Value.text({
    name: 'LLM model',
    description: 'Optional. The model name the local server expects (default "local").',
    required: false,
    default: null,
    placeholder: 'llama-3.1-8b-instruct',
  }),
  sender: Value.text({
    name: 'Digest sender',
    description:
      "Optional. The team member's Google Workspace mailbox the digest is sent from through Gmail " +
      "delegation. Leave empty to send from the first active admin's mailbox.",
    required: false,
    default: null,
    placeholder: 'ir-desk@fund.com',
    patterns: [sdk.patterns.email],
  }),
})

const DIGEST_SETTINGS = ['timezone', 'llm-url', 'llm-model', 'sender'] as const

/** Configure Digest: start9/actions/configure-digest in the image. */
export const configureDigest = sdk.Action.withInput(
  'configure-digest',
  {
    name: 'Configure Digest',
    description:
      "Sets the fund's time zone (the digest's local day and send hour), the fund's own local " +
      "language-model server that writes each admin's digest summary, and the mailbox the digest " +
      'is sent from. Each run replaces all four settings; an empty optional field removes that ' +
      'setting. The service applies them when it starts.',
    warning: null,
    allowedStatuses: 'any',
    group: 'Digest',
    visibility: 'enabled',
  },
  digestInput,
  async () => {
    const saved: Record<string, string> = {}
    for (const name of DIGEST_SETTINGS) {
      const value = await readDataFile(`settings/digest/${name}`)
      if (value !== null) saved[name] = value
    }
    return Object.keys(saved).length ? saved : null
  },
  async ({ effects, input }) =>
    actionResult('Digest settings', await runPythonAction(effects, 'configure-digest', input)),
)
