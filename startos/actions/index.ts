import { sdk } from '../sdk'
import { checkGmailDelegation } from './checkGmailDelegation'
import { configureDigest } from './configureDigest'
import { configureDigestSmtp } from './configureDigestSmtp'
import { configureGmailDelegation } from './configureGmailDelegation'
import { createAdmin } from './createAdmin'
import { dashboardStatus } from './dashboardStatus'

/** The actions: the 0.3.5 package's five (same ids, same files), and the status action that
 * stands in for 0.3.5's Properties page. */
export const actions = sdk.Actions.of()
  .addAction(createAdmin)
  .addAction(configureGmailDelegation)
  .addAction(configureDigest)
  .addAction(configureDigestSmtp)
  .addAction(checkGmailDelegation)
  .addAction(dashboardStatus)
