// HS256 mode end to end, offline: `ALGORITHMS=HS256 SECRET=... npm start` runs the API and the local
// issuer, which signs its access tokens with that SECRET; the API verifies them with the same secret.
import { createHmac, sign } from 'node:crypto'
import { join } from 'node:path'
import t from 'tap'
import { DEV_AUDIENCE, DEV_CLIENT_SECRETS } from '../../src/dev-credentials.js'
import { runTokenCommand } from '../../src/issuer/commands.js'
import { KeyStore } from '../../src/issuer/keys.js'
import { describeStartupError, startServer } from '../../src/server.js'
import { startLocalService } from '../helpers/local-service.js'
import { freePort } from '../helpers/ports.js'
import { memoryIo } from './cli-helpers.js'

const SECRET = 'local-hs256-secret-at-least-32-bytes'

/** The quickstart's curl: client credentials as JSON. */
async function tokenFor (issuer: string, clientId: string): Promise<string> {
  const response = await fetch(new URL('oauth/token', issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: clientId, client_secret: DEV_CLIENT_SECRETS.get(clientId), audience: DEV_AUDIENCE, grant_type: 'client_credentials' })
  })
  if (response.status !== 200) throw new Error(`token request for ${clientId}: HTTP ${response.status}`)
  return (await response.json() as { access_token: string }).access_token
}

async function call (api: string, path: string, token: string): Promise<{ status: number, code: unknown }> {
  const response = await fetch(`${api}/${path}`, { headers: { authorization: `Bearer ${token}` } })
  return { status: response.status, code: (await response.json() as { code?: unknown }).code }
}

function decode (part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>
}

/** The token's claims under another header and signature. */
function resign (token: string, header: object, signature: (input: string) => Buffer): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${token.split('.')[1] ?? ''}`
  return `${input}.${signature(input).toString('base64url')}`
}

t.test('ALGORITHMS=HS256 with SECRET: the local issuer signs with the secret the API verifies with', async t => {
  const { api, issuer, issuerPort, keyDir } = await startLocalService(t, { ALGORITHMS: 'HS256', SECRET })
  t.equal((await fetch(`${api.replace(/api$/, '')}health/ready`)).status, 200, 'ready: an HMAC issuer needs no key set')

  const reader = await tokenFor(issuer, 'm2m-reader')
  const [header = '', payload = ''] = reader.split('.')
  t.same(decode(header), { alg: 'HS256', typ: 'JWT' }, 'alg HS256, no kid')
  t.match(decode(payload), { iss: issuer, aud: DEV_AUDIENCE, sub: 'm2m-reader@clients', scope: 'read:messages' })
  t.same(await call(api, 'private-scoped', reader), { status: 200, code: undefined })

  const basic = await tokenFor(issuer, 'm2m-basic')
  t.same(await call(api, 'private', basic), { status: 200, code: undefined }, 'a token without scopes: 200 on /api/private')
  t.same(await call(api, 'private-scoped', basic), { status: 403, code: 'AUTH_INSUFFICIENT_SCOPE' }, 'and 403 on /api/private-scoped')

  const otherSecret = resign(reader, { alg: 'HS256', typ: 'JWT' }, input => createHmac('sha256', `${SECRET}-but-another`).update(input).digest())
  t.same(await call(api, 'private-scoped', otherSecret), { status: 401, code: 'AUTH_INVALID_SIGNATURE' }, 'HS256 with another secret: 401')

  // The issuer's RSA key is still generated and published, but the API never trusts it in this mode.
  const { signing } = await (await KeyStore.open(keyDir, { info () {} })).current()
  const rs256 = resign(reader, { alg: 'RS256', typ: 'JWT', kid: signing.kid }, input => sign('sha256', Buffer.from(input), signing.privateKey))
  t.same(await call(api, 'private-scoped', rs256), { status: 401, code: 'AUTH_ALGORITHM_NOT_ALLOWED' }, 'RS256 with the issuer\'s own RSA key: 401')

  const io = memoryIo()
  t.equal(await runTokenCommand(['--scope', 'read:messages'], { LOCAL_ISSUER_PORT: String(issuerPort) }, io), 0, 'the token command')
  t.same(decode(io.stdout[0]?.split('.')[0] ?? ''), { alg: 'HS256', typ: 'JWT' })
  t.same(await call(api, 'private-scoped', io.stdout[0] ?? ''), { status: 200, code: undefined })
})

t.test('HS384 and HS512: the first algorithm of ALGORITHMS signs', async t => {
  for (const algorithm of ['HS384', 'HS512']) {
    const { api, issuer } = await startLocalService(t, { ALGORITHMS: algorithm, SECRET })
    const token = await tokenFor(issuer, 'm2m-reader')
    t.same(decode(token.split('.')[0] ?? ''), { alg: algorithm, typ: 'JWT' }, algorithm)
    t.same(await call(api, 'private-scoped', token), { status: 200, code: undefined }, algorithm)
  }
})

t.test('a misconfiguration stops start-up with one line naming the variable, before the issuer listens', async t => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ ALGORITHMS: 'HS256' }, 'Configuration error: SECRET is required when ALGORITHMS names HS256, HS384 or HS512: set it to the API\'s signing secret'],
    [{ ALGORITHMS: 'HS256', SECRET: 'too-short' }, 'Configuration error: SECRET must be at least 32 bytes long'],
    [{ SECRET }, 'Configuration error: SECRET is set, but no issuer uses HS256, HS384 or HS512 (set ALGORITHMS too, or remove SECRET)']
  ]
  for (const [env, line] of cases) {
    const issuerPort = await freePort()
    const started = startServer({ env: { PORT: String(await freePort()), LOCAL_ISSUER_PORT: String(issuerPort), LOCAL_ISSUER_KEY_DIR: join(t.testdir({}), 'keys'), LOG_LEVEL: 'silent', ...env } })
    const error = await started.then(async server => { await server.close() }, (err: unknown) => err)
    t.equal(describeStartupError(error), line, JSON.stringify(env))
    await t.rejects(fetch(`http://localhost:${issuerPort}/.well-known/openid-configuration`), 'no issuer was started')
  }
})
