import { spawn } from 'node:child_process'
import cluster from 'node:cluster'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { test } from 'tap'
import { MAX_WORKERS, supervise, workerCount } from '../src/cluster.js'
import { envSchema } from '../src/config.js'
import { CLUSTER_METRICS_TIMEOUT_MS } from '../src/metrics/cluster-metrics.js'
import { startServer } from '../src/server.js'
import { envFor, LogCapture } from './helpers/app.js'
import { KeyServer } from './helpers/key-server.js'
import { freePort } from './helpers/ports.js'

const FIXTURE_WORKER = fileURLToPath(new URL('./fixtures/cluster-worker.js', import.meta.url))
const CLUSTER_MAIN = fileURLToPath(new URL('../src/cluster-main.ts', import.meta.url))

async function waitFor (what: string, condition: () => boolean, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

const messages = (logs: LogCapture, msg: string) => logs.lines.filter(line => line.msg === msg)

/** The supervisor in this process, forking the stand-in worker in the given mode. */
function superviseFixture (mode: string, workers: number, stopTimeoutMs?: number) {
  cluster.setupPrimary({ exec: FIXTURE_WORKER, args: [mode] })
  const logs = new LogCapture()
  const supervisor = supervise({ workers, log: pino(logs), stopTimeoutMs })
  return { logs, supervisor }
}

test('WORKERS: one per CPU by default, else a whole number in range', async t => {
  t.equal(workerCount(undefined, 3), 3)
  t.equal(workerCount(' ', 3), 3)
  t.equal(workerCount('2', 3), 2)
  t.ok(workerCount(undefined) >= 1, 'the CPUs this process may use')
  for (const bad of ['0', '-1', '1.5', 'two', String(MAX_WORKERS + 1)]) {
    t.throws(() => workerCount(bad), { code: 'ERR_CONFIG', message: `WORKERS must be a whole number from 1 to ${MAX_WORKERS}, got "${bad}"` })
  }
})

test('a worker that dies after it started is replaced; stop drains them all', async t => {
  const { logs, supervisor } = superviseFixture('ok', 2)
  await waitFor('two workers', () => messages(logs, 'worker listening').length === 2)
  const [victim] = Object.values(cluster.workers ?? {})
  victim?.process.kill('SIGKILL')
  await waitFor('a replacement', () => messages(logs, 'worker listening').length === 3)
  t.match(messages(logs, 'worker died unexpectedly; starting a replacement'), [{ signal: 'SIGKILL', worker: victim?.id }])
  supervisor.stop('test')
  supervisor.stop('again')
  t.equal(await supervisor.done, 0)
  t.equal(messages(logs, 'stopping: each worker drains its requests, then exits').length, 1, 'stop is idempotent')
  t.same(Object.keys(cluster.workers ?? {}), [])
})

test('a worker that dies before it listens stops everything with code 1, without restarts', async t => {
  const { logs, supervisor } = superviseFixture('fail-at-start', 2)
  t.equal(await supervisor.done, 1)
  t.match(messages(logs, 'a worker exited before it was listening; stopping (its own error is above)'), [{ code: 3 }])
  t.equal(messages(logs, 'worker died unexpectedly; starting a replacement').length, 0)
})

test('a worker that does not drain in time is killed, and the exit code says so', async t => {
  const { logs, supervisor } = superviseFixture('ignore-sigterm', 1, 200)
  await waitFor('the worker', () => messages(logs, 'worker listening').length === 1)
  supervisor.stop('test')
  t.equal(await supervisor.done, 1)
  t.equal(messages(logs, 'worker still running after the drain timeout; killing it').length, 1)
})

test('startServer refuses local issuer mode when asked to (cluster workers)', async t => {
  const error = await startServer({ env: { PORT: '0', LOG_LEVEL: 'silent' }, localIssuer: false }).catch((error: unknown) => error)
  t.match(error, { code: 'ERR_CONFIG', variable: 'ISSUER_BASE_URL', message: /is required by start:cluster/ })
})

/** Runs src/cluster-main.ts as `npm run start:cluster` would, under tap's TypeScript loader. */
function runCluster (env: Record<string, string>, onStdout?: (stdout: string, signal: (name: NodeJS.Signals) => void) => void) {
  const inherited = { ...process.env }
  for (const name of [...Object.keys(envSchema.properties), 'WORKERS']) delete inherited[name]
  const child = spawn(process.execPath, [...process.execArgv, CLUSTER_MAIN], {
    env: { ...inherited, ...env },
    cwd: fileURLToPath(new URL('./fixtures/empty-dir/', import.meta.url))
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', chunk => { stdout += chunk; onStdout?.(stdout, name => child.kill(name)) })
  child.stderr.on('data', chunk => { stderr += chunk })
  return new Promise<{ code: number | null, stdout: string, stderr: string }>(resolve => {
    child.on('close', code => resolve({ code, stdout, stderr }))
  })
}

test('the cluster: two workers serve one port; SIGTERM drains them and exits 0', async t => {
  const keys = await KeyServer.start()
  t.teardown(() => keys.close())
  const port = await freePort()
  const answers: number[] = []
  let asked = false
  const result = await runCluster({ ...envFor(keys), PORT: String(port), WORKERS: '2' }, (stdout, signal) => {
    if (asked || stdout.split('"msg":"worker listening"').length - 1 < 2) return
    asked = true
    void (async () => {
      for (let i = 0; i < 4; i++) {
        const response = await fetch(`http://127.0.0.1:${port}/api/private`, { headers: { authorization: `Bearer ${keys.sign()}`, connection: 'close' } })
        answers.push(response.status)
      }
      signal('SIGTERM')
    })()
  })
  t.same(answers, [200, 200, 200, 200])
  t.equal(result.code, 0)
  t.match(result.stdout, /"msg":"starting workers"/)
  t.match(result.stdout, /"reason":"SIGTERM"/)
  t.equal(result.stdout.split('"msg":"shutting down"').length - 1, 2, 'each worker drained')
})

test('the cluster refuses local issuer mode: one line, exit code 1', async t => {
  const result = await runCluster({ PORT: String(await freePort()), WORKERS: '1' })
  t.equal(result.code, 1)
  t.match(result.stderr, /^Configuration error: ISSUER_BASE_URL is required by start:cluster/m)
  t.match(result.stdout, /a worker exited before it was listening/)
})

test('the cluster: a bad WORKERS is one line, exit code 1', async t => {
  const result = await runCluster({ WORKERS: 'many' })
  t.equal(result.code, 1)
  t.equal(result.stderr, 'Configuration error: WORKERS must be a whole number from 1 to 64, got "many"\n')
})

test('the cluster with METRICS_ENABLED: one /metrics for all workers, whichever worker answers', async t => {
  const keys = await KeyServer.start()
  t.teardown(() => keys.close())
  const port = await freePort()
  const requests = 6
  const scrapes: Array<{ status: number, type: string | null, ms: number, text: string }> = []
  let failure: unknown
  let asked = false
  const result = await runCluster({ ...envFor(keys), PORT: String(port), WORKERS: '2', METRICS_ENABLED: 'true' }, (stdout, signal) => {
    if (asked || stdout.split('"msg":"worker listening"').length - 1 < 2) return
    asked = true
    void (async () => {
      try {
        // A connection each: the primary hands them to the two workers in turn.
        for (let i = 0; i < requests; i++) {
          await fetch(`http://127.0.0.1:${port}/api/private`, { headers: { authorization: `Bearer ${keys.sign({ jti: `request-${i}` })}`, connection: 'close' } })
        }
        for (let i = 0; i < 4; i++) {
          const started = Date.now()
          const response = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { connection: 'close' } })
          scrapes.push({ status: response.status, type: response.headers.get('content-type'), text: await response.text(), ms: Date.now() - started })
        }
      } catch (error) {
        failure = error
      } finally {
        signal('SIGTERM')
      }
    })()
  })
  t.equal(failure, undefined)
  t.equal(result.code, 0)
  t.equal(keys.jwksFetches, 2, 'each worker fetched the key set once')
  const value = (text: string, series: string): number | undefined => {
    const line = text.split('\n').find(candidate => candidate.startsWith(`${series} `))
    return line === undefined ? undefined : Number(line.slice(series.length + 1))
  }
  const issuer = `issuer="${keys.issuer}"`
  t.equal(scrapes.length, 4)
  scrapes.forEach(({ status, type, ms, text }, i) => {
    t.equal(status, 200)
    t.match(type, /^text\/plain; version=0\.0\.4/)
    t.ok(ms < CLUSTER_METRICS_TIMEOUT_MS, `scrape ${i} answered in ${ms} ms`)
    t.equal(value(text, 'http_request_duration_seconds_count{method="GET",route="/api/private",status_code="200"}'), requests,
      'every request, whichever worker served it')
    t.equal(value(text, 'http_request_duration_seconds_count{method="GET",route="/metrics",status_code="200"}'), i === 0 ? undefined : i,
      'every earlier scrape, whichever worker answered it')
    t.equal(value(text, `auth_keyset_fetch_duration_seconds_count{${issuer},result="ok"}`), 2, 'summed: one fetch per worker')
    t.equal(value(text, `auth_keyset_keys{${issuer}}`), 1, 'not summed: one key, not one per worker')
    t.equal(value(text, `auth_keyset_stale{${issuer}}`), 0)
    t.equal(value(text, 'auth_token_cache_lookups_total{result="miss"}'), requests, 'a token each: every one a miss, in one worker or the other')
  })
})
