import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'tap'
import { envSchema } from '../src/config.js'
import { describeStartupError, startServer } from '../src/server.js'
import { envFor } from './helpers/app.js'
import { KeyServer } from './helpers/key-server.js'
import { freePort } from './helpers/ports.js'

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url))

/** The test runner's own variables (loader, coverage), without any service configuration. */
function inheritedEnv (): Record<string, string | undefined> {
  const inherited = { ...process.env }
  for (const name of Object.keys(envSchema.properties)) delete inherited[name]
  return inherited
}

/** Starts src/main.ts as `npm start` would (under tap's TypeScript loader), with only these variables. */
function spawnService (env: Record<string, string>): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [...process.execArgv, MAIN], {
    env: { ...inheritedEnv(), ...env },
    cwd: fileURLToPath(new URL('./fixtures/empty-dir/', import.meta.url))
  })
}

/** Runs the service to its end, collecting what it printed. */
function runServer (env: Record<string, string>, onStdout?: (text: string, kill: () => void) => void) {
  const child = spawnService(env)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', chunk => { stdout += chunk; onStdout?.(stdout, () => child.kill('SIGTERM')) })
  child.stderr.on('data', chunk => { stderr += chunk })
  return new Promise<{ code: number | null, stdout: string, stderr: string }>(resolve => {
    child.on('close', code => resolve({ code, stdout, stderr }))
  })
}


test('startServer listens and serves the API against a configured issuer', async t => {
  const keys = await KeyServer.start()
  const server = await startServer({ env: { ...envFor(keys), PORT: '0', LOG_LEVEL: 'silent' } })
  t.teardown(async () => { await server.close(); await keys.close() })
  const { port } = server.server.address() as { port: number }
  const base = `http://127.0.0.1:${port}`
  t.equal((await fetch(`${base}/health/live`)).status, 200)
  const ready = await fetch(`${base}/health/ready`)
  t.equal(ready.status, 200)
  t.match(await ready.json(), { status: 'ready', issuers: [{ issuer: keys.issuer, ready: true, keys: 1, stale: false }] })
  const response = await fetch(`${base}/api/private`, { headers: { authorization: `Bearer ${keys.sign()}` } })
  t.equal(response.status, 200)
})

test('start-up failures a user can fix are one line', async t => {
  t.equal(describeStartupError(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE', port: 3010 })),
    'Start-up error: port 3010 is already in use (set PORT or LOCAL_ISSUER_PORT)')
  t.equal(describeStartupError(new Error('something else')), undefined)
  const keys = await KeyServer.start()
  t.teardown(() => keys.close())
  const port = await freePort()
  const first = await startServer({ env: { ...envFor(keys), PORT: String(port), LOG_LEVEL: 'silent' } })
  t.teardown(() => first.close())
  const error = await startServer({ env: { ...envFor(keys), PORT: String(port), LOG_LEVEL: 'silent' } }).catch((error: unknown) => error)
  t.equal(describeStartupError(error), `Start-up error: port ${port} is already in use (set PORT or LOCAL_ISSUER_PORT)`)

  // 192.0.2.1 (TEST-NET-1) is no address of this machine; a name that resolves to nothing fails in DNS.
  const foreign = await startServer({ env: { ...envFor(keys), PORT: '0', HOST: '192.0.2.1', LOG_LEVEL: 'silent' } }).catch((error: unknown) => error)
  t.equal(describeStartupError(foreign), 'Start-up error: cannot listen on "192.0.2.1" (EADDRNOTAVAIL): set HOST to an address of this machine, e.g. 0.0.0.0 or 127.0.0.1')
  t.equal(describeStartupError(Object.assign(new Error('getaddrinfo ENOTFOUND api.invalid'), { code: 'ENOTFOUND', hostname: 'api.invalid' })),
    'Start-up error: cannot listen on "api.invalid" (ENOTFOUND): set HOST to an address of this machine, e.g. 0.0.0.0 or 127.0.0.1')
})

test('the process: bad configuration exits 1 with one line', async t => {
  const result = await runServer({ ISSUER_BASE_URL: 'https://tenant.example.com/' })
  t.equal(result.code, 1)
  t.equal(result.stderr, 'Configuration error: AUDIENCE is required with ISSUER_BASE_URL or AUTH0_DOMAIN: set it to your API identifier\n')
  const schema = await runServer({ PORT: 'x' })
  t.equal(schema.code, 1)
  t.equal(schema.stderr, 'Configuration error: PORT must be integer\n')
})

test('the process: a start-up failure exits 1 with one line', async t => {
  const host = await runServer({ ISSUER_BASE_URL: 'http://127.0.0.1:9/', AUDIENCE: 'a', HOST: '203.0.113.1', PORT: '0', LOG_LEVEL: 'silent' })
  t.equal(host.code, 1)
  t.equal(host.stderr, 'Start-up error: cannot listen on "203.0.113.1" (EADDRNOTAVAIL): set HOST to an address of this machine, e.g. 0.0.0.0 or 127.0.0.1\n')
  // Any other failure: its own message, still one line.
  const dir = t.testdir({})
  const other = await runServer({ PORT: '0', LOCAL_ISSUER_PORT: String(await freePort()), LOCAL_ISSUER_CONFIG: dir, LOCAL_ISSUER_KEY_DIR: join(dir, 'keys'), LOG_LEVEL: 'silent' })
  t.equal(other.code, 1)
  t.match(other.stderr, /^Start-up failed: Cannot read the local issuer config .*: EISDIR \(set LOCAL_ISSUER_CONFIG to another file\)\n$/)
})

test('the process: SIGTERM drains and exits 0', async t => {
  const keys = await KeyServer.start()
  t.teardown(() => keys.close())
  const port = await freePort()
  let signalled = false // once: a second SIGTERM means "stop now" and exits 1
  const result = await runServer({ ...envFor(keys), PORT: String(port) }, (stdout, kill) => {
    if (!signalled && stdout.includes('Server listening')) {
      signalled = true
      kill()
    }
  })
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout, /"msg":"shutting down"/)
  t.match(result.stdout, /"signal":"SIGTERM"/)
})

test('the process: a log reader that stops reading never stalls the service', async t => {
  // With LOG_REJECTION_INTERVAL=0 every rejection gets its own line (by default a summary per
  // interval). If stdout's reader stalls (a slow log pipeline) under a flood of bad tokens,
  // writing must not block the event loop: the service keeps answering, and the lines come
  // through, whole, once the reader catches up (well under the 16 MiB drop limit).
  const keys = await KeyServer.start()
  t.teardown(() => keys.close())
  const port = await freePort()
  const child = spawnService({ ...envFor(keys), PORT: String(port), LOG_REJECTION_INTERVAL: '0' })
  const exited = new Promise<number | null>(resolve => child.on('close', code => { resolve(code) }))
  t.teardown(() => { child.kill('SIGKILL') })
  child.stdout.pause() // nobody reads: the pipe fills up
  const base = `http://127.0.0.1:${port}`
  for (let tries = 0; ; tries++) {
    if (await fetch(`${base}/health/live`).then(response => response.ok, () => false)) break
    if (tries > 200) throw new Error('the service did not start')
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  const FLOOD = 3000 // about 400 KB of log lines: several times what a pipe holds
  const rejected = async (): Promise<number> =>
    (await fetch(`${base}/api/private`, { headers: { authorization: 'Bearer not.a.jwt' } })).status
  for (let sent = 0; sent < FLOOD; sent += 50) {
    const statuses = await Promise.all(Array.from({ length: 50 }, rejected))
    if (statuses.some(status => status !== 401)) t.fail(`a rejection answered ${statuses.join(',')}`)
  }
  // A writer that blocked on the full pipe would hang here (and the test time out), not answer.
  t.equal((await fetch(`${base}/health/live`)).status, 200, 'still answering with the reader stalled')

  let stdout = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', chunk => { stdout += chunk })
  child.stdout.resume()
  child.kill('SIGTERM')
  t.equal(await exited, 0)
  const lines = stdout.split('\n').filter(Boolean).map(line => JSON.parse(line) as { msg?: string })
  // A full pipe is retried until the reader takes the lines: none is lost (well under the cap).
  t.equal(lines.filter(line => line.msg === 'request rejected').length, FLOOD, 'every rejection was logged, each line whole')
})
