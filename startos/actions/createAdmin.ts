import { sdk } from '../sdk'
import { actionResult, runPythonAction } from '../utils'

const { InputSpec, Value } = sdk

export const createAdminInput = InputSpec.of({
  email: Value.text({
    name: 'Email',
    description: "The admin's work address (also their Gmail mailbox, captured like any team member's).",
    required: true,
    default: null,
    placeholder: 'alice@fund.com',
    patterns: [sdk.patterns.email],
  }),
  name: Value.text({
    name: 'Name',
    description: 'Shown in the dashboard and the digest (ignored when the user already exists).',
    required: false,
    default: null,
    placeholder: 'Alice Martin',
  }),
})

/** Create Admin / reset password: start9/actions/create-admin in the image. */
export const createAdmin = sdk.Action.withInput(
  'create-admin',
  {
    name: 'Create Admin',
    description:
      'Creates an admin account for the dashboard and shows its generated password once. If the ' +
      'address is already a user, it becomes an active admin with a new password (use this if a ' +
      'password is lost).',
    warning: null,
    allowedStatuses: 'any',
    group: 'Set-up',
    visibility: 'enabled',
  },
  createAdminInput,
  async () => null,
  async ({ effects, input }) =>
    actionResult('Admin password', await runPythonAction(effects, 'create-admin', input), true),
)
