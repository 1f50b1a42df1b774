// Drives the StartOS 0.4 package's bundle (javascript/index.js) as StartOS would, for the tests
// in this folder: an action's form and prefill, an action run, init, a backup or a restore.
//
//   node driver.mjs '<request JSON>'   ->  one JSON object on stdout: {ok, value | error, calls}
//
// The SDK exports no test helpers, so `effects` (StartOS's side of every call) is a small fake
// that records each call and throws on any method it does not implement, so a new dependency of
// the package on StartOS shows up as a failure, not as a silent no-op. Everything else is real:
// the SDK's own code, its file models on /media/startos/volumes/main, its subcontainers (the
// image itself, through bin/start-container), rsync for backups. run_driver() in conftest.py
// starts this in a private mount namespace where /media/startos is the test's directory.
import { randomUUID } from 'node:crypto'
import { mkdir, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const bundle = createRequire(import.meta.url)(path.resolve(here, '../../javascript/index.js'))

const request = JSON.parse(process.argv[2])
const calls = []
const state = {
  dataVersion: request.dataVersion ?? null,
  systemSmtp: request.systemSmtp ?? null,
  host: request.host ?? null,
  leave: [],
}

function makeEffects(eventId) {
  const record = (method) => async (args) => {
    calls.push({ method, args: args ?? null })
    return null
  }
  const effects = {
    eventId,
    isInContext: true,
    constRetry: () => {},
    onLeaveContext: (fn) => state.leave.push(fn),
    child: () => makeEffects(eventId),
    clearCallbacks: record('clearCallbacks'),
    action: {
      export: record('action.export'),
      clear: record('action.clear'),
      createTask: record('action.createTask'),
      clearTasks: record('action.clearTasks'),
    },
    subcontainer: {
      async createFs({ imageId, name }) {
        const guid = randomUUID()
        const rootfs = `/media/startos/subcontainers/${guid}`
        await mkdir(rootfs, { recursive: true })
        calls.push({ method: 'subcontainer.createFs', args: { imageId, name } })
        return [rootfs, guid]
      },
      async destroyFs({ guid }) {
        await rm(`/media/startos/subcontainers/${guid}`, { recursive: true, force: true })
        await rm(`/media/startos/subcontainers/${guid}.binds`, { force: true })
        return null
      },
    },
    getSystemSmtp: async () => state.systemSmtp,
    getDataVersion: async () => state.dataVersion,
    async setDataVersion({ version }) {
      calls.push({ method: 'setDataVersion', args: { version } })
      state.dataVersion = version
      return null
    },
    bind: record('bind'),
    clearBindings: record('clearBindings'),
    exportServiceInterface: record('exportServiceInterface'),
    clearServiceInterfaces: record('clearServiceInterfaces'),
    getHostInfo: async () => state.host,
    getContainerIp: async () => '127.0.0.1',
    getOsIp: async () => '127.0.0.1',
    setHealth: async (args) => { calls.push({ method: 'setHealth', args, at: Date.now() }); return null },
    setBackupProgress: async () => null,
    setInitProgress: async () => null,
  }
  return new Proxy(effects, {
    get(target, property) {
      if (property in target || typeof property === 'symbol' || property === 'then') {
        return target[property]
      }
      throw new Error(`the fake effects do not implement ${String(property)}`)
    },
  })
}

function action(id) {
  const found = bundle.actions.get(id)
  if (!found) throw new Error(`no action ${id}`)
  return found
}

const operations = {
  manifest: async () => bundle.manifest,
  actionIds: async () => Object.keys(bundle.actions.actions),
  metadata: async () => action(request.id).exportMetadata({ effects: makeEffects('metadata') }),
  // The form StartOS shows, with its prefill.
  getInput: async () => action(request.id).getInput({ effects: makeEffects('form'), prefill: null }),
  // What happens when the owner submits the form: StartOS asks for the form first.
  run: async () => {
    const effects = makeEffects('run')
    await action(request.id).getInput({ effects, prefill: null })
    return action(request.id).run({ effects, input: request.input ?? {} })
  },
  init: async () => bundle.init({ effects: makeEffects('init'), kind: request.kind ?? null }),
  createBackup: async () => bundle.createBackup({ effects: makeEffects('backup') }),
  // The service started: its daemons run until both health checks have an answer past
  // "starting" (or the time is up), then StartOS stops it. The value: each check's last report.
  main: async () => {
    const daemons = await bundle.main({ effects: makeEffects('main') })
    await daemons.build()
    const latest = () => {
      const reports = {}
      for (const call of calls) if (call.method === 'setHealth') reports[call.args.id] = call.args
      return reports
    }
    const settled = (reports) =>
      reports.main?.result === 'success' &&
      (request.until === 'capture-success'
        ? reports.capture?.result === 'success'
        : reports.capture && reports.capture.result !== 'starting')
    const deadline = Date.now() + (request.timeoutMs ?? 120_000)
    while (!settled(latest()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250))
    const reports = latest()
    await daemons.term()
    return reports
  },
}

let output
try {
  const value = await operations[request.op]()
  output = { ok: true, value: value ?? null, calls }
} catch (error) {
  output = { ok: false, error: error instanceof Error ? error.message : String(error), calls }
}
for (const leave of state.leave) leave()
process.stdout.write(JSON.stringify(output) + '\n')
process.exit(0)
