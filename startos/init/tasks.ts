import { T } from '@start9labs/start-sdk'
import { configureGmailDelegation } from '../actions/configureGmailDelegation'
import { createAdmin } from '../actions/createAdmin'
import { sdk } from '../sdk'
import { failureReason, parseJson, runInImage } from '../utils'

type SetupState = { admins_active: number; delegation_configured: boolean }

/** Asks the image (start9/setup-status) whether an admin exists and delegation is configured. */
async function setupState(effects: T.Effects): Promise<SetupState> {
  const result = await runInImage(effects, 'setup-status', ['/opt/start9/setup-status'], '{}', 120_000)
  const state = result.exitCode === 0 ? parseJson<SetupState>(result.stdout) : null
  if (!state) throw new Error(`set-up status unavailable: ${failureReason(result)}`)
  return state
}

/**
 * The owner's next steps, as StartOS tasks. Create Admin is critical: StartOS will not start
 * the service before it is done, and without an admin nobody can sign in (the action runs while
 * the service is stopped). Delegation is important: the service starts without it and the
 * dashboard and the capture health check say what is missing. A task clears itself when its
 * action runs; a restored backup that already has both clears them here.
 */
export const setupTasks = sdk.setupOnInit(async (effects) => {
  const state = await setupState(effects)
  if (state.admins_active === 0) {
    await sdk.action.createOwnTask(effects, createAdmin, 'critical', {
      reason: 'Create the first admin: the dashboard has no account to sign in with yet.',
    })
  } else {
    await sdk.action.clearTask(effects, `${sdk.manifest.id}:${createAdmin.id}`)
  }
  if (!state.delegation_configured) {
    await sdk.action.createOwnTask(effects, configureGmailDelegation, 'important', {
      reason:
        "Store the Google service account key: no team member's mail is captured until then. " +
        'The Instructions tab walks through the Google set-up.',
    })
  } else {
    await sdk.action.clearTask(effects, `${sdk.manifest.id}:${configureGmailDelegation.id}`)
  }
})
