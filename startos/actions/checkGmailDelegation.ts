import { sdk } from '../sdk'
import { actionResult, runPythonAction } from '../utils'

/** Check Gmail Delegation: start9/actions/check-gmail-delegation in the image. */
export const checkGmailDelegation = sdk.Action.withoutInput(
  'check-gmail-delegation',
  {
    name: 'Check Gmail Delegation',
    description:
      'Checks the stored key and tries each team mailbox with the two scopes, then lists every ' +
      'mailbox that fails with how to fix it.',
    warning: null,
    allowedStatuses: 'only-running',
    group: 'Set-up',
    visibility: 'enabled',
  },
  // Below the check's own 170 s limit plus the time to start the container.
  async ({ effects }) =>
    actionResult('Gmail delegation', await runPythonAction(effects, 'check-gmail-delegation', {}, 200_000)),
)
