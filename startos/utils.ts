import { T } from '@start9labs/start-sdk'
import { readFile } from 'node:fs/promises'
import { sdk } from './sdk'

/** The dashboard's port inside the service (CRM_PORT in the image). */
export const uiPort = 8050

/** The data volume where the image expects it: the same /data as under StartOS 0.3.5. */
export const dataMounts = sdk.Mounts.of().mountVolume({
  volumeId: 'main',
  subpath: null,
  mountpoint: '/data',
  readonly: false,
})

/** A text file of the data volume, trimmed; null when it is missing or empty. */
export async function readDataFile(subpath: string): Promise<string | null> {
  try {
    const text = (await readFile(sdk.volumes.main.subpath(subpath), 'utf8')).trim()
    return text || null
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
}

export type CommandResult = { exitCode: number | null; stdout: string; stderr: string }

/**
 * Run a command of the image in a throwaway container with the data volume at /data: how
 * this package reaches the Python side, which holds every rule (input checks, atomic writes,
 * ownership). `input` goes to stdin, never on a command line.
 */
export async function runInImage(
  effects: T.Effects,
  name: string,
  command: string[],
  input: string,
  timeoutMs: number,
): Promise<CommandResult> {
  return sdk.SubContainer.withTemp(effects, { imageId: 'main' }, dataMounts, name, async (sub) => {
    const result = await sub.exec(command, { input }, timeoutMs)
    return { exitCode: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() }
  })
}

/** What the Python actions print on success (StartOS 0.3.5's action result). */
export type PythonActionResult = {
  message: string
  value: string | null
  copyable: boolean
  qr: boolean
}

/** The one JSON object a script printed, or null when it printed anything else. */
export function parseJson<A>(stdout: string): A | null {
  const lines = stdout.split('\n').filter((line) => line.trim())
  try {
    return lines.length === 1 ? (JSON.parse(lines[0]) as A) : (JSON.parse(stdout) as A)
  } catch {
    return null
  }
}

/** The reason a Python action or script gave on stderr: its last "error: " line. */
export function failureReason(result: CommandResult): string {
  const lines = result.stderr.split('\n').map((line) => line.trim()).filter(Boolean)
  const error = [...lines].reverse().find((line) => line.startsWith('error: '))
  if (error) return error.slice('error: '.length)
  return lines.at(-1) ?? `exit status ${String(result.exitCode)}`
}

/**
 * Run one of the image's actions (start9/actions/<id>) with its JSON input, exactly as the
 * 0.3.5 package does; a refusal (bad input, a failed step) becomes an Error with its reason.
 */
export async function runPythonAction(
  effects: T.Effects,
  actionId: string,
  input: Record<string, unknown>,
  timeoutMs = 120_000,
): Promise<PythonActionResult> {
  const result = await runInImage(effects, actionId, [`/opt/start9/actions/${actionId}`], JSON.stringify(input), timeoutMs)
  if (result.exitCode !== 0) throw new Error(failureReason(result))
  const parsed = parseJson<Partial<PythonActionResult>>(result.stdout)
  if (!parsed || typeof parsed.message !== 'string') {
    throw new Error(`the ${actionId} action printed no result`)
  }
  return {
    message: parsed.message,
    value: typeof parsed.value === 'string' ? parsed.value : null,
    copyable: parsed.copyable === true,
    qr: parsed.qr === true,
  }
}

/** A Python action's result in StartOS 0.4's form. */
export function actionResult(
  title: string,
  result: PythonActionResult,
  masked = false,
): T.ActionResult & { version: '1' } {
  return {
    version: '1',
    title,
    message: result.message,
    result:
      result.value === null
        ? null
        : { type: 'single', value: result.value, copyable: result.copyable, qr: result.qr, masked },
  }
}
