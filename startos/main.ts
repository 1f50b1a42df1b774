import { healthFns, T } from '@start9labs/start-sdk'
import { smtpChoice } from './fileModels/smtpChoice.json'
import { sdk } from './sdk'
import { systemSmtpInput } from './smtp'
import { dataMounts, failureReason, runPythonAction, uiPort } from './utils'

type Health = healthFns.HealthCheckResult
type AppContainer = ReturnType<typeof sdk.SubContainer.of>

/** The dashboard is ready when /healthz answers 200 (any other answer is not ready). */
async function dashboardHealth(): Promise<Health> {
  try {
    const response = await fetch(`http://127.0.0.1:${uiPort}/healthz`, { signal: AbortSignal.timeout(5_000) })
    if (response.status === 200) return { result: 'success', message: 'The dashboard is ready. Open it with Launch UI.' }
    return { result: 'failure', message: `The dashboard answered HTTP ${response.status}` }
  } catch (error) {
    return { result: 'failure', message: `The dashboard is not answering (${(error as Error).message})` }
  }
}

/**
 * Mailbox capture, judged by the image's own check (start9/health/capture): every team mailbox
 * captured, or what stops it (no delegation key yet, no mailboxes, a mailbox in a permanent
 * error) with how to fix it. The input tells the script the start-up grace is over: StartOS's
 * grace period below decides "starting".
 */
async function captureHealth(app: AppContainer): Promise<Health> {
  const result = await app.exec(['/opt/start9/health/capture'], { input: '999999999' }, 60_000)
  if (result.exitCode === 0) return { result: 'success', message: 'Every team mailbox is being captured.' }
  // The check prints every mailbox that needs a fix, then a hint: all of it is the message.
  const reason =
    result.stderr.toString().trim() ||
    failureReason({ exitCode: result.exitCode, stdout: result.stdout.toString(), stderr: '' })
  if (result.exitCode === 60) return { result: 'starting', message: reason }
  return { result: 'failure', message: reason }
}

/**
 * When Configure Digest SMTP chose this server's own SMTP settings, write them for the app
 * before it starts; `const` re-runs main (a restart) whenever they or that choice change.
 */
async function followSystemSmtp(effects: T.Effects): Promise<void> {
  const system = await smtpChoice
    .read((file) => (file.smtp.selection === 'system' ? { customFrom: file.smtp.value.customFrom ?? null } : null))
    .const(effects)
  if (!system) return
  const settings = systemSmtpInput(await sdk.getSystemSmtp(effects).const(), system.customFrom)
  try {
    await runPythonAction(effects, 'configure-digest-smtp', settings)
  } catch (error) {
    // The service still starts: the digest then goes by Gmail delegation alone.
    console.error(`The server's SMTP settings were not applied: ${(error as Error).message}`)
  }
}

export const main = sdk.setupMain(async ({ effects }) => {
  await followSystemSmtp(effects)
  // The image's entrypoint, as under 0.3.5: prepares /data as root, migrates, then serves as
  // the unprivileged app user under tini.
  const app = sdk.SubContainer.of(effects, { imageId: 'main' }, dataMounts, 'ir-mail-desk')
  return sdk.Daemons.of(effects)
    .addDaemon('main', {
      subcontainer: app,
      exec: { command: sdk.useEntrypoint(), sigtermTimeout: 60_000 },
      ready: { display: 'Dashboard', gracePeriod: 120_000, fn: dashboardHealth },
      requires: [],
    })
    .addHealthCheck('capture', {
      ready: {
        display: 'Mailbox capture',
        // It runs once the dashboard is up, so a failure is real at once: no grace period.
        gracePeriod: 0,
        // Each check starts the app's command line (about a second of CPU): soon after the
        // start, then every minute, or every 30 s while capture needs a fix.
        trigger: sdk.trigger.statusTrigger(60_000, { starting: 2_000, waiting: 2_000, failure: 30_000 }),
        fn: () => captureHealth(app),
      },
      requires: ['main'],
    })
})
