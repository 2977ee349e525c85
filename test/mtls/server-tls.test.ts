import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { test, type Test } from 'tap'
import { envSchema } from '../../src/config.js'
import { serviceLogger } from '../../src/logger.js'
import type * as Server from '../../src/server.js'
import { envFor, LogCapture } from '../helpers/app.js'
import { KeyServer } from '../helpers/key-server.js'
import { freePort } from '../helpers/ports.js'
import { fixturePath, httpsGet, identity } from './tls-client.js'

const TLS = { TLS_CERT: fixturePath('mtls-server.crt'), TLS_KEY: fixturePath('mtls-server.key') }

/** src/server.js with its logger writing to `logs`, so start-up lines can be read. */
async function serverModule (t: Test, logs: LogCapture): Promise<typeof Server> {
  return await t.mockImport<typeof Server>('../../src/server.js', {
    '../../src/logger.js': { serviceLogger: () => serviceLogger(logs) }
  })
}

/** The lines that say how the service listens, in order. */
function listeningLines (logs: LogCapture): Array<Record<string, unknown>> {
  return logs.lines.filter(line => /^Server listening|listening with TLS|^client certificates/.test(String(line.msg)))
}

async function start (t: Test, env: Record<string, string>): Promise<{ server: FastifyInstance, base: string, logs: LogCapture }> {
  const keys = await KeyServer.start()
  t.teardown(() => keys.close())
  const logs = new LogCapture()
  const { startServer } = await serverModule(t, logs)
  const server = await startServer({ env: { ...envFor(keys), PORT: '0', ...env } })
  t.teardown(() => server.close())
  const { port } = server.server.address() as { port: number }
  return { server, base: `https://127.0.0.1:${port}`, logs }
}

test('TLS_CERT and TLS_KEY: the service serves https, with or without a client certificate', async t => {
  const { base, logs } = await start(t, TLS)
  t.equal((await httpsGet(`${base}/health/live`)).status, 200, 'no client certificate needed')
  t.equal((await httpsGet(`${base}/health/live`, { identity: identity('self-signed-client') })).status, 200)
  await t.rejects(fetch(`${base.replace('https', 'http')}/health/live`), 'no plain http on that port')
  t.match(listeningLines(logs), [
    { msg: /^Server listening at https:\/\/127\.0\.0\.1:\d+$/ },
    { level: 30, clientCertificateCa: false, msg: /^listening with TLS: client certificates are requested, not verified against a CA/ }
  ])
  t.notMatch(JSON.stringify(logs.lines), /PRIVATE KEY|CERTIFICATE-----/, 'no key or certificate in the logs')
})

test('with TLS_CLIENT_CA: said at start-up', async t => {
  const { base, logs } = await start(t, { ...TLS, TLS_CLIENT_CA: fixturePath('client-ca.crt') })
  t.equal((await httpsGet(`${base}/health/live`, { identity: identity('client') })).status, 200)
  t.match(listeningLines(logs), [{ msg: /^Server listening at https/ },
    { clientCertificateCa: true, msg: 'listening with TLS: client certificates are requested and verified against TLS_CLIENT_CA' }])
})

test('CLIENT_CERT_HEADER=true: said at start-up, with or without TLS', async t => {
  const header = 'client certificates come from the Client-Cert header (CLIENT_CERT_HEADER=true), not from TLS connections: the proxy in front must set it and strip any a client sends'
  const plain = await start(t, { CLIENT_CERT_HEADER: 'true' })
  t.same(listeningLines(plain.logs).map(line => line.msg), [`Server listening at ${plain.base.replace('https', 'http')}`, header])
  const tls = await start(t, { ...TLS, CLIENT_CERT_HEADER: 'true' })
  t.match(listeningLines(tls.logs), [{ msg: /^Server listening at https:/ }, { msg: header }, { msg: /^listening with TLS/ }])
})

test('a TLS mistake stops start-up before anything listens, as one configuration line', async t => {
  const { describeStartupError, startServer } = await serverModule(t, new LogCapture())
  const error = await startServer({ env: { PORT: '0', TLS_CERT: TLS.TLS_CERT } }).catch((error: unknown) => error)
  t.equal(describeStartupError(error), 'Configuration error: TLS_KEY is required with TLS_CERT: set it to the PEM file of the certificate\'s private key')
})

test('the process: TLS variables from .env, as the rest of the configuration', async t => {
  const keys = await KeyServer.start()
  t.teardown(() => keys.close())
  const port = await freePort()
  // The working directory's .env names the files; process.env the rest.
  const cwd = t.testdir({ '.env': `TLS_CERT=${TLS.TLS_CERT}\nTLS_KEY=${TLS.TLS_KEY}\n` })
  const inherited = { ...process.env }
  for (const name of Object.keys(envSchema.properties)) delete inherited[name]
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(new URL('../../src/main.ts', import.meta.url))], {
    cwd,
    env: { ...inherited, ...envFor(keys), PORT: String(port) }
  })
  const exited = new Promise<number | null>(resolve => child.on('close', resolve))
  t.teardown(() => { child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', chunk => { stderr += chunk })
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', chunk => {
      stdout += chunk
      if (stdout.includes('listening with TLS')) resolve()
    })
    child.on('close', () => { reject(new Error(`exited before listening: ${stderr}`)) })
  })
  t.equal((await httpsGet(`https://127.0.0.1:${port}/health/live`, { identity: identity('client') })).status, 200)
  child.kill('SIGTERM')
  t.equal(await exited, 0, stderr)
  t.match(stdout, `"msg":"Server listening at https://127.0.0.1:${port}"`)
})
