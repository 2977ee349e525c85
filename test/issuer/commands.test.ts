// The issuer CLI: spawned for start-up, shutdown and one rotation; in-process for the rest. The
// token CLI (through the token client, src/client): against a running issuer with the shipped config,
// and against servers that are down, hang, or are not issuers.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createInterface } from 'node:readline'
import t from 'tap'
import { ISSUER_USAGE, TOKEN_USAGE, requestClientCredentialsToken, runIssuerCommand, runTokenCommand, shutdown } from '../../src/issuer/commands.js'
import { cliScript, memoryIo, runCli } from './cli-helpers.js'
import { SHIPPED_CONFIG, startTestIssuer, testDirs, verifyAgainstJwks } from './helpers.js'

t.test('issuer CLI: runs until SIGTERM, then shuts down gracefully', async t => {
  const { configPath, keyDir } = await testDirs(t)
  const child = spawn(process.execPath, [...process.execArgv, cliScript('cli.ts')], {
    env: { ...process.env, LOCAL_ISSUER_PORT: '0', LOCAL_ISSUER_CONFIG: configPath, LOCAL_ISSUER_KEY_DIR: keyDir, NODE_ENV: 'development' }
  })
  t.teardown(() => { child.kill('SIGKILL') })
  const lines: Array<Record<string, unknown>> = []
  let issuer = ''
  for await (const line of createInterface({ input: child.stdout })) {
    const entry = JSON.parse(line) as Record<string, unknown>
    lines.push(entry)
    if (typeof entry.issuer === 'string') { issuer = entry.issuer; break }
  }
  t.match(issuer, /^http:\/\/localhost:\d+\/$/)
  t.match(lines.at(-1), { level: 40, msg: /^DEVELOPMENT authorization server/ })
  const discovery = await (await fetch(new URL('.well-known/openid-configuration', issuer))).json() as { issuer: string }
  t.equal(discovery.issuer, issuer)

  const rest: string[] = []
  const collected = (async () => { for await (const line of createInterface({ input: child.stdout })) rest.push(line) })()
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit') as [number | null]
  await collected
  t.equal(code, 0)
  t.ok(rest.map(line => JSON.parse(line) as Record<string, unknown>).some(entry => entry.msg === 'SIGTERM received: shutting down'), 'logs why it stops')
})

t.test('issuer CLI: start-up failures are one line on stderr and exit 1', async t => {
  const { configPath, keyDir } = await testDirs(t, { apis: 'none' })
  const bad = await runCli('cli.ts', [], { LOCAL_ISSUER_PORT: '0', LOCAL_ISSUER_CONFIG: configPath, LOCAL_ISSUER_KEY_DIR: keyDir, NODE_ENV: '' })
  t.equal(bad.code, 1)
  t.equal(bad.stderr, `local issuer: Invalid local issuer config ${configPath}: apis must be an array\n`)
  const production = await runCli('cli.ts', ['start'], { NODE_ENV: 'production' })
  t.equal(production.code, 1)
  t.match(production.stderr, /^local issuer: The local development issuer refuses to run with NODE_ENV=production: set ISSUER_BASE_URL/)
})

t.test('issuer CLI: rotate and retire', async t => {
  const { keyDir } = await testDirs(t)
  const env = { LOCAL_ISSUER_KEY_DIR: keyDir, NODE_ENV: '' }
  const first = await runCli('cli.ts', ['rotate'], env)
  t.equal(first.code, 0)
  const [, kid1] = /^Added signing key ([\w-]+)\./.exec(first.stdout) ?? []
  t.equal(first.stdout, `Added signing key ${kid1}. Published keys: ${kid1} (signing).\nTokens signed with older keys keep verifying until you retire them.\n`)

  const io = memoryIo()
  t.equal(await runIssuerCommand(['rotate'], env, io), 0)
  const [, kid2] = /^Added signing key ([\w-]+)\./.exec(io.stdout[0] ?? '') ?? []
  t.equal(io.stdout[0], `Added signing key ${kid2}. Published keys: ${kid1}, ${kid2} (signing).`)

  const retire = memoryIo()
  t.equal(await runIssuerCommand(['retire'], env, retire), 0)
  t.same(retire.stdout, [`Retired ${kid1}. Published keys: ${kid2} (signing).`])
  const nothing = memoryIo()
  t.equal(await runIssuerCommand(['retire'], env, nothing), 0)
  t.same(nothing.stdout, [`Nothing to retire. Published keys: ${kid2} (signing).`])
})

t.test('issuer CLI: usage', async t => {
  for (const args of [['bogus'], ['rotate', 'now']]) {
    const io = memoryIo()
    t.equal(await runIssuerCommand(args, {}, io), 1)
    t.same(io.stderr, [ISSUER_USAGE])
  }
  const help = memoryIo()
  t.equal(await runIssuerCommand(['help'], {}, help), 0)
  t.same(help.stdout, [ISSUER_USAGE])
})

t.test('issuer CLI: shutdown says why', async t => {
  const logged: string[] = []
  let closed = 0
  const log = { info: (msg: string) => { logged.push(msg) }, error: (_fields: unknown, msg: string) => { logged.push(msg) } }
  const issuer = { app: { log }, close: async () => { closed++ } } as unknown as Parameters<typeof shutdown>[0]
  await shutdown(issuer)({ signal: 'SIGINT' })
  await shutdown(issuer)({ err: new Error('boom') })
  t.same(logged, ['SIGINT received: shutting down', 'shutting down after an error'])
  t.equal(closed, 2)
})

function serve (handler: (res: ServerResponse) => void): Promise<Server> {
  return new Promise(resolve => {
    const server = createServer((_req, res) => { handler(res) })
    server.listen(0, '127.0.0.1', () => resolve(server))
  })
}

t.test('token CLI against the running issuer with the shipped config', async t => {
  const { keyDir } = await testDirs(t)
  const { issuer } = await startTestIssuer(t, { configPath: SHIPPED_CONFIG, keyDir })
  const port = new URL(issuer).port

  const spawned = await runCli('token-cli.ts', ['--scope', 'read:messages', '--issuer', issuer])
  t.equal(spawned.code, 0)
  t.equal(spawned.stderr, '')
  t.match(spawned.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'only the token on stdout')
  t.match((await verifyAgainstJwks(issuer, spawned.stdout.trim())).payload, { sub: 'm2m-reader@clients', scope: 'read:messages' })

  const unscoped = memoryIo()
  t.equal(await runTokenCommand([], { LOCAL_ISSUER_PORT: port }, unscoped), 0, 'the issuer from LOCAL_ISSUER_PORT')
  t.match((await verifyAgainstJwks(issuer, unscoped.stdout[0] ?? '')).payload, { sub: 'm2m-basic@clients', scope: '', permissions: [] })

  const explicit = memoryIo()
  t.equal(await runTokenCommand(['--client-id', 'm2m-reader', '--client-secret', 'local-reader-secret', '--audience', 'https://quickstarts/api', '--issuer', issuer], {}, explicit), 0)
  t.match((await verifyAgainstJwks(issuer, explicit.stdout[0] ?? '')).payload, { sub: 'm2m-reader@clients', scope: 'read:messages' })

  const failures: Array<[string[], string]> = [
    [['--scope', 'write:messages'], 'token: token request failed with HTTP 400: invalid_scope: client "m2m-reader" is not granted scope "write:messages" on https://quickstarts/api'],
    [['--client-id', 'local-app'], 'token: token request failed with HTTP 400: unauthorized_client: client "local-app" may not use the client_credentials grant'],
    [['--client-id', 'm2m-reader', '--client-secret', 'wrong'], 'token: token request failed with HTTP 401: invalid_client: client authentication failed: unknown client or wrong secret'],
    [['--client-id', 'someone'], 'token: --client-secret is required for client "someone"'],
    [['--bogus'], "token: Unknown option '--bogus'"]
  ]
  for (const [args, message] of failures) {
    const io = memoryIo()
    t.equal(await runTokenCommand([...args, '--issuer', issuer], {}, io), 1, args.join(' '))
    t.same({ stdout: io.stdout, stderr: io.stderr }, { stdout: [], stderr: [message] }, args.join(' '))
  }

  const help = memoryIo()
  t.equal(await runTokenCommand(['-h'], {}, help), 0)
  t.same(help.stdout, [TOKEN_USAGE])
})

t.test('token CLI: an issuer that is down, hangs, or is not an issuer', async t => {
  const down = await serve(res => res.end())
  const { port } = down.address() as AddressInfo
  await new Promise(resolve => down.close(resolve))
  const io = memoryIo()
  t.equal(await runTokenCommand([], { LOCAL_ISSUER_PORT: String(port) }, io), 1)
  t.same(io.stderr, [`token: cannot reach the issuer at http://localhost:${port}/oauth/token (ECONNREFUSED); is it running? Start it with: npm run issuer`])

  const plainHttp = memoryIo()
  t.equal(await runTokenCommand(['--issuer', 'http://issuer.example.test/'], {}, plainHttp), 1, 'the secret never goes over plain http to another host')
  t.same(plainHttp.stderr, ['token: tokenEndpoint must be an https URL (http only to localhost) without user or password'])

  const notAnIssuer = await serve(res => { res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>nope</h1>') })
  const emptyJson = await serve(res => { res.writeHead(200, { 'content-type': 'application/json' }).end('{}') })
  const hangs = await serve(() => {})
  t.teardown(() => { notAnIssuer.close(); emptyJson.close(); hangs.closeAllConnections(); hangs.close() })
  const url = (server: Server): string => `http://localhost:${(server.address() as AddressInfo).port}/`
  const request = { clientId: 'm2m-basic', clientSecret: 'x', audience: 'https://quickstarts/api' }
  await t.rejects(requestClientCredentialsToken({ ...request, issuer: url(notAnIssuer) }), { message: 'token request failed with HTTP 404: unexpected response' })
  await t.rejects(requestClientCredentialsToken({ ...request, issuer: url(emptyJson) }), { message: 'token request failed with HTTP 200: unexpected response' })
  await t.rejects(requestClientCredentialsToken({ ...request, issuer: url(hangs), timeoutMs: 100 }), {
    message: `cannot reach the issuer at ${url(hangs)}oauth/token (The operation was aborted due to timeout); is it running? Start it with: npm run issuer`
  })
})
