// The token CLI against a running issuer with the shipped config, and against servers that
// are down, hang, or are not issuers.
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { TOKEN_USAGE, runTokenCommand } from '../../src/issuer/token-command.js'
import { requestClientCredentialsToken } from '../../src/issuer/token-client.js'
import { memoryIo, runCli } from './cli-helpers.js'
import { SHIPPED_CONFIG, startTestIssuer, testDirs, verifyAgainstJwks } from './helpers.js'

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
