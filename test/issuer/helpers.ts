// Shared by the issuer tests: real issuers on 127.0.0.1 port 0 with their own config and key dir.
import { createPublicKey, type JsonWebKey } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Writable } from 'node:stream'
import { createVerifier } from 'fast-jwt'
import pino from 'pino'
import type { Test } from 'tap'
import { DEV_CLIENT_SECRETS, DEV_USER } from '../../src/dev-credentials.js'
import { hashSecret } from '../../src/issuer/secret-hash.js'
import { startLocalIssuer, type LocalIssuer, type LocalIssuerOptions } from '../../src/issuer/server.js'

export const AUDIENCE = 'https://quickstarts/api'
export const OTHER_AUDIENCE = 'https://other/api'
export const SHIPPED_CONFIG = fileURLToPath(new URL('../../config/local-issuer.json', import.meta.url))

/** The lowest scrypt cost the config accepts, so tests do not spend 50 ms per secret. */
const CHEAP = { cost: 1024, blockSize: 8, parallelization: 1 }

export const SECRETS = {
  reader: 'reader-secret',
  basic: 'basic-secret',
  app: 'app-secret',
  writer: 'writer-secret',
  password: 'user-password'
} as const

/** A config like the shipped one, plus a second API and clients for every error path. */
export async function testConfig (): Promise<Record<string, unknown>> {
  const [reader, basic, app, writer, password] = await Promise.all([
    hashSecret(SECRETS.reader, CHEAP), hashSecret(SECRETS.basic, CHEAP), hashSecret(SECRETS.app, CHEAP),
    hashSecret(SECRETS.writer, CHEAP), hashSecret(SECRETS.password, CHEAP)
  ])
  return {
    apis: [
      { identifier: AUDIENCE, scopes: ['read:messages', 'write:messages'], rbac: true },
      { identifier: OTHER_AUDIENCE, scopes: ['read:other'], rbac: false, tokenLifetimeSeconds: 600 }
    ],
    clients: [
      { clientId: 'm2m-reader', secretHash: reader, grantTypes: ['client_credentials'], scopes: { [AUDIENCE]: ['read:messages'] } },
      { clientId: 'm2m-basic', secretHash: basic, grantTypes: ['client_credentials'], scopes: { [AUDIENCE]: [] } },
      { clientId: 'local-app', secretHash: app, grantTypes: ['password'], scopes: { [AUDIENCE]: ['read:messages', 'write:messages'], [OTHER_AUDIENCE]: ['read:other'] } },
      { clientId: 'm2m-writer', secretHash: writer, grantTypes: ['client_credentials', 'password'], scopes: { [AUDIENCE]: ['write:messages'], [OTHER_AUDIENCE]: ['read:other'] } }
    ],
    users: [
      { id: 'auth0|test-user', username: 'user@example.com', passwordHash: password, scopes: { [AUDIENCE]: ['read:messages'] } }
    ]
  }
}

let cachedConfig: Promise<Record<string, unknown>> | undefined

/** Writes the test config (or `config`) into a fresh test directory; returns config path and key dir. */
export async function testDirs (t: Test, config?: unknown): Promise<{ dir: string, configPath: string, keyDir: string }> {
  const dir = t.testdir({})
  const configPath = join(dir, 'local-issuer.json')
  writeFileSync(configPath, JSON.stringify(config ?? await (cachedConfig ??= testConfig()), null, 2))
  return { dir, configPath, keyDir: join(dir, 'keys') }
}

/** Starts a real issuer on 127.0.0.1 port 0, closed when the test ends. */
export async function startTestIssuer (t: Test, options: LocalIssuerOptions = {}): Promise<LocalIssuer> {
  const dirs = options.configPath === undefined || options.keyDir === undefined ? await testDirs(t) : undefined
  const issuer = await startLocalIssuer({
    port: 0,
    logger: false,
    env: {},
    configPath: dirs?.configPath,
    keyDir: dirs?.keyDir,
    ...options
  })
  t.teardown(() => issuer.close())
  return issuer
}

/** Every log line, as parsed JSON and as the raw text (to search for leaked secrets). */
export function captureLogs (): { logger: pino.Logger, lines: Array<Record<string, unknown>>, text: () => string } {
  const raw: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) { raw.push(chunk.toString()); done() }
  })
  return {
    logger: pino({ level: 'debug' }, stream),
    get lines () { return raw.join('').split('\n').filter(line => line !== '').map(line => JSON.parse(line) as Record<string, unknown>) },
    text: () => raw.join('')
  }
}

export interface TokenCall {
  status: number
  headers: Headers
  body: Record<string, unknown>
}

type Params = Record<string, string>

/** POST /oauth/token with a JSON body (the quickstart's curl), a form body, or Basic credentials. */
export async function postToken (
  issuer: string, params: Params, how: { form?: boolean, basic?: [string, string], authorization?: string, dpop?: string } = {}
): Promise<TokenCall> {
  const headers: Record<string, string> = {
    'content-type': how.form === true ? 'application/x-www-form-urlencoded' : 'application/json'
  }
  if (how.dpop !== undefined) headers.dpop = how.dpop
  if (how.basic !== undefined) {
    const [id, secret] = how.basic
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`
  }
  if (how.authorization !== undefined) headers.authorization = how.authorization
  const response = await fetch(new URL('oauth/token', issuer), {
    method: 'POST',
    headers,
    body: how.form === true ? new URLSearchParams(params).toString() : JSON.stringify(params)
  })
  return { status: response.status, headers: response.headers, body: await response.json() as Record<string, unknown> }
}

export function clientCredentials (clientId: string, secret: string, extra: Params = {}): Params {
  return { client_id: clientId, client_secret: secret, audience: AUDIENCE, grant_type: 'client_credentials', ...extra }
}

export function passwordGrant (extra: Params = {}): Params {
  return {
    grant_type: 'password',
    username: 'user@example.com',
    password: SECRETS.password,
    audience: AUDIENCE,
    client_id: 'local-app',
    client_secret: SECRETS.app,
    ...extra
  }
}

export interface JwtParts {
  header: Record<string, unknown>
  payload: Record<string, unknown>
}

/** Verifies the token's RS256 signature against the issuer's served JWKS; returns header and claims. */
export async function verifyAgainstJwks (issuer: string, token: string, audience: string = AUDIENCE): Promise<JwtParts> {
  const { keys } = await (await fetch(new URL('.well-known/jwks.json', issuer))).json() as { keys: Array<JsonWebKey & { kid: string }> }
  const header = JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString()) as Record<string, unknown>
  const jwk = keys.find(key => key.kid === header.kid)
  if (jwk === undefined) throw new Error(`kid ${String(header.kid)} is not in the JWKS`)
  const verify = createVerifier({
    key: createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString(),
    algorithms: ['RS256'],
    allowedIss: issuer,
    allowedAud: audience,
    requiredClaims: ['iss', 'aud', 'exp', 'sub']
  })
  return { header, payload: verify(token) as Record<string, unknown> }
}

/** The shipped config's documented credentials, as the README gives them. */
export const DOCUMENTED = {
  reader: DEV_CLIENT_SECRETS.get('m2m-reader') as string,
  basic: DEV_CLIENT_SECRETS.get('m2m-basic') as string,
  app: DEV_CLIENT_SECRETS.get('local-app') as string,
  user: DEV_USER
}
