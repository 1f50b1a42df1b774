import { FileHelper, smtpShape, z } from '@start9labs/start-sdk'
import { sdk } from '../sdk'

/**
 * The choice made in Configure Digest SMTP (disabled, the server's own SMTP, or custom), kept
 * so the form shows it again and so the service follows the server's SMTP settings when that
 * was the choice. Never a password: that lives only in secrets/smtp/password, written by the
 * image's action with mode 0600.
 */
export const smtpChoice = FileHelper.json(
  { base: sdk.volumes.main, subpath: 'settings/startos-smtp.json' },
  z.object({ smtp: smtpShape }),
)
