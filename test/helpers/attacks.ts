import { constants, sign as cryptoSign, type KeyObject } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import type { LogCapture } from './app.js'
import type { KeyServer } from './key-server.js'
import type { RawResponse } from './raw-http.js'
export { rawBytes } from './raw-http.js'

/** What a rejection must look like: status, the exact WWW-Authenticate, the whole JSON body. */
export interface Expected {
  status: number
  challenge: string
  body: { statusCode: number, error: string, code: string, message: string }
}

const invalidToken = (code: string, message: string): Expected => ({
  status: 401,
  challenge: `Bearer realm="api", error="invalid_token", error_description="${message}"`,
  body: { statusCode: 401, error: 'Unauthorized', code, message }
})
const invalidRequest = (code: string, message: string): Expected => ({
  status: 400,
  challenge: `Bearer realm="api", error="invalid_request", error_description="${message}"`,
  body: { statusCode: 400, error: 'Bad Request', code, message }
})

/** Every rejection the auth layer makes, as the client sees it. */
export const REJECTED = {
  MISSING: {
    status: 401,
    challenge: 'Bearer realm="api"',
    body: { statusCode: 401, error: 'Unauthorized', code: 'AUTH_MISSING_TOKEN', message: 'An access token is required: send it in the Authorization header as Bearer <token>' }
  },
  MALFORMED_HEADER: invalidRequest('AUTH_MALFORMED_AUTHORIZATION', 'The Authorization header is malformed: expected Bearer <token>'),
  DUPLICATE: invalidRequest('AUTH_DUPLICATE_TOKEN', 'The access token must be sent exactly once, in a single Authorization header'),
  IN_QUERY: invalidRequest('AUTH_TOKEN_IN_QUERY', 'Access tokens are not accepted in the URL: send it in the Authorization header'),
  MALFORMED: invalidToken('AUTH_TOKEN_MALFORMED', 'The access token is not a well-formed signed JWT'),
  HEADER: invalidToken('AUTH_TOKEN_HEADER_UNSUPPORTED', 'The access token header is not acceptable'),
  ALGORITHM: invalidToken('AUTH_ALGORITHM_NOT_ALLOWED', 'The access token is signed with an algorithm that is not allowed'),
  UNKNOWN_KEY: invalidToken('AUTH_UNKNOWN_KEY', 'The access token is signed with a key the issuer does not publish'),
  SIGNATURE: invalidToken('AUTH_INVALID_SIGNATURE', 'The access token signature is invalid'),
  EXPIRED: invalidToken('AUTH_TOKEN_EXPIRED', 'The access token expired'),
  NOT_YET_VALID: invalidToken('AUTH_TOKEN_NOT_YET_VALID', 'The access token is not valid yet'),
  WRONG_ISSUER: invalidToken('AUTH_WRONG_ISSUER', 'The access token was issued by an issuer this API does not trust'),
  WRONG_AUDIENCE: invalidToken('AUTH_WRONG_AUDIENCE', 'The access token is not intended for this API (audience mismatch)'),
  MISSING_CLAIM: invalidToken('AUTH_MISSING_CLAIM', 'The access token lacks a required claim (exp, iss and aud are required)'),
  INVALID_CLAIM: invalidToken('AUTH_INVALID_CLAIM', 'The access token has a claim of the wrong type or value'),
  CRITICAL: invalidToken('AUTH_UNSUPPORTED_CRITICAL_HEADER', 'The access token requires a critical header extension this API does not support')
} satisfies Record<string, Expected>

export const PRIVATE = { message: 'Hello from a private endpoint! You need to be authenticated to see this.' }

/** One attack: a name that says what it tries, the request, and the rejection it must get. */
export interface Attack {
  name: string
  /** The Authorization header value; undefined sends none. */
  authorization?: string
  url?: string
  expected: Expected
}

/** base64url of a JSON value, or of a text as given. */
export const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
export const b64text = (text: string): string => Buffer.from(text).toString('base64url')

/**
 * A compact JWS over exactly these header and payload texts, signed with a real private key by
 * `alg` (RS/PS/ES/EdDSA). Unlike a JWT library it signs anything: duplicate members, numbers JSON
 * cannot round-trip (1e400), payloads that are not objects.
 */
export function signText (headerText: string, payloadText: string, privateKey: KeyObject, alg = 'RS256'): string {
  const input = `${b64text(headerText)}.${b64text(payloadText)}`
  return `${input}.${signatureOver(input, privateKey, alg)}`
}

export function signatureOver (input: string, privateKey: KeyObject, alg = 'RS256'): string {
  const data = Buffer.from(input)
  const hash = `sha${alg.slice(2)}`
  let signature: Buffer
  if (alg === 'EdDSA') signature = cryptoSign(null, data, privateKey)
  else if (alg.startsWith('PS')) signature = cryptoSign(hash, data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST })
  else if (alg.startsWith('ES')) signature = cryptoSign(hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
  else signature = cryptoSign(hash, data, privateKey)
  return signature.toString('base64url')
}

/** The segments of a compact token. */
export const segments = (token: string): string[] => token.split('.')

/**
 * The same bytes spelled differently: a lone extra character when the length leaves no spare
 * bits, otherwise the last character with its unused low bit set. Decoders give the same bytes.
 */
export function respell (segment: string): string {
  if (segment.length % 4 === 0) return `${segment}A`
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const last = alphabet.indexOf(segment[segment.length - 1])
  return segment.slice(0, -1) + alphabet[last ^ 1]
}

/** A server on loopback that counts every request: proof that nothing was fetched from it. */
export class Canary {
  readonly requests: string[] = []
  #server: Server
  port = 0

  private constructor (answer: (path: string) => { status: number, body: string }) {
    this.#server = createServer((request, response) => {
      this.requests.push(request.url ?? '')
      const { status, body } = answer(request.url ?? '')
      response.writeHead(status, { 'content-type': 'application/json' }).end(body)
    })
  }

  static async start (answer: (path: string) => { status: number, body: string } = () => ({ status: 404, body: '{}' })): Promise<Canary> {
    const canary = new Canary(answer)
    await new Promise<void>(resolve => canary.#server.listen(0, '127.0.0.1', resolve))
    canary.port = (canary.#server.address() as AddressInfo).port
    return canary
  }

  url (path: string): string { return `http://127.0.0.1:${this.port}${path}` }

  async close (): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise(resolve => this.#server.close(resolve))
  }
}

/** A response from inject or from a raw socket, in one shape. */
interface SeenResponse { status: number, headers: Record<string, unknown>, body: string }

function seen (response: LightMyRequestResponse | RawResponse): SeenResponse {
  return 'statusCode' in response
    ? { status: response.statusCode, headers: response.headers, body: response.body }
    : response
}

const QUOTED_VALUE = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/
const ERROR_CODES = new Set(['invalid_request', 'invalid_token', 'insufficient_scope'])

/**
 * Parses a `WWW-Authenticate` value by RFC 6750 section 3 as this API uses it, independently of
 * the code that builds it: `Bearer realm="api"`, then optionally `error`, `error_description`
 * and `scope`, each once, in that order, each a quoted string of printable ASCII without `"` or
 * `\`. Undefined when the value does not have that shape.
 */
export function parseChallenge (value: unknown): { error?: string, description?: string, scope?: string } | undefined {
  if (typeof value !== 'string' || !value.startsWith('Bearer ')) return undefined
  const params: Array<[string, string]> = []
  let rest = value.slice('Bearer '.length)
  while (rest !== '') {
    const match = /^([a-z_]+)="([^"\\]*)"(, |$)/.exec(rest)
    if (match === null || !QUOTED_VALUE.test(match[2])) return undefined
    params.push([match[1], match[2]])
    rest = rest.slice(match[0].length)
    if (match[3] === ', ' && rest === '') return undefined
  }
  const names = params.map(([name]) => name)
  const allowed = [['realm'], ['realm', 'error', 'error_description'], ['realm', 'error', 'error_description', 'scope']]
  if (!allowed.some(shape => shape.join() === names.join())) return undefined
  const get = (name: string) => params.find(([key]) => key === name)?.[1]
  if (get('realm') !== 'api') return undefined
  const error = get('error')
  if (error !== undefined && !ERROR_CODES.has(error)) return undefined
  if ((error === 'insufficient_scope') !== (get('scope') !== undefined)) return undefined
  return { error, description: get('error_description'), scope: get('scope') }
}

/** Asserts the exact rejection, plus what any rejection must be: JSON, a parseable challenge. */
export function assertRejected (t: Test, response: LightMyRequestResponse | RawResponse, expected: Expected): void {
  const { status, headers, body } = seen(response)
  t.equal(status, expected.status, 'status')
  t.equal(headers['www-authenticate'], expected.challenge, 'WWW-Authenticate')
  t.ok(parseChallenge(headers['www-authenticate']), 'a well-formed challenge')
  let json: unknown
  try { json = JSON.parse(body) } catch { json = body }
  t.same(json, expected.body, 'body')
  t.equal(headers['content-type'], 'application/json; charset=utf-8', 'JSON')
}

/**
 * Throws each attack at the running app, twice (the second answer may come from the rejection
 * cache and must be the same), one named subtest per attack.
 */
export async function throwAll (t: Test, app: FastifyInstance, attacks: Attack[]): Promise<void> {
  for (const attack of attacks) {
    await t.test(attack.name, async t => {
      for (let round = 0; round < 2; round++) {
        const headers = attack.authorization === undefined ? {} : { authorization: attack.authorization }
        const response = await app.inject({ url: attack.url ?? '/api/private', headers })
        assertRejected(t, response, attack.expected)
      }
    })
  }
}

/** The process keeps serving: a valid token still gets in after the attacks. */
export async function assertStillServes (t: Test, app: FastifyInstance, keys: KeyServer): Promise<void> {
  const response = await app.inject({ url: '/api/private', headers: { authorization: `Bearer ${keys.sign()}` } })
  t.equal(response.statusCode, 200, 'a valid token still gets 200 afterwards')
  t.same(response.json(), PRIVATE)
}

/**
 * Nothing went wrong inside (no error-level line: a 500 is always logged at error), and no token
 * reached a log line. Tokens shorter than 20 characters could match by chance and are not looked for.
 */
export function assertCleanLogs (t: Test, logs: LogCapture, tokens: Iterable<string>): void {
  t.same(logs.lines.filter(line => (line.level as number) >= 50), [], 'no error logged')
  const all = logs.raw.join('\n')
  const leaked = [...tokens].filter(token => token.length >= 20 && all.includes(token))
  t.same(leaked, [], 'no token in any log line')
}

/** Every token the attacks used, for the log check. */
export function tokensOf (attacks: Attack[]): string[] {
  return attacks.flatMap(attack => attack.authorization === undefined ? [] : [attack.authorization.replace(/^\S+\s+/, '')])
}

