import { constants, sign as cryptoSign, type KeyObject } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import type { LogCapture } from './app.js'
import { DPOP_ALGS, offered } from './challenges.js'
import type { KeyServer } from './key-server.js'
import type { RawResponse } from './raw-http.js'
export { rawBytes } from './raw-http.js'

/**
 * What a rejection must look like: status, the exact WWW-Authenticate (with DPoP allowed, the
 * default: the Bearer challenge, then the DPoP offer), the whole JSON body.
 */
export interface Expected {
  status: number
  challenge: string
  body: { statusCode: number, error: string, code: string, message: string }
}

const invalidToken = (code: string, message: string): Expected => ({
  status: 401,
  challenge: offered(`Bearer realm="api", error="invalid_token", error_description="${message}"`),
  body: { statusCode: 401, error: 'Unauthorized', code, message }
})
const invalidRequest = (code: string, message: string): Expected => ({
  status: 400,
  challenge: offered(`Bearer realm="api", error="invalid_request", error_description="${message}"`),
  body: { statusCode: 400, error: 'Bad Request', code, message }
})

/** Every rejection the auth layer makes, as the client sees it. */
export const REJECTED = {
  MISSING: {
    status: 401,
    challenge: offered('Bearer realm="api"'),
    body: { statusCode: 401, error: 'Unauthorized', code: 'AUTH_MISSING_TOKEN', message: 'An access token is required: send it in the Authorization header as Bearer <token>' }
  },
  MALFORMED_HEADER: invalidRequest('AUTH_MALFORMED_AUTHORIZATION', 'The Authorization header is malformed: expected a scheme and a token, as in Bearer <token>'),
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
  CRITICAL: invalidToken('AUTH_UNSUPPORTED_CRITICAL_HEADER', 'The access token requires a critical header extension this API does not support'),
  /** A token without cnf.jkt under the DPoP scheme: that scheme's challenge carries the error, Bearer is offered bare. */
  NOT_DPOP_BOUND: {
    status: 401,
    challenge: `DPoP realm="api", error="invalid_token", error_description="The access token is not DPoP-bound (no cnf.jkt): send it as Bearer", algs="${DPOP_ALGS}", Bearer realm="api"`,
    body: { statusCode: 401, error: 'Unauthorized', code: 'AUTH_TOKEN_NOT_DPOP_BOUND', message: 'The access token is not DPoP-bound (no cnf.jkt): send it as Bearer' }
  }
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
/** RFC 6750 section 3.1's error codes; a DPoP challenge may also carry RFC 9449 section 7.1's two. */
const BEARER_ERRORS = new Set(['invalid_request', 'invalid_token', 'insufficient_scope'])
const DPOP_ERRORS = new Set([...BEARER_ERRORS, 'invalid_dpop_proof', 'use_dpop_nonce'])
/**
 * The asymmetric JWS algorithms of the IANA registry (RFC 7518, RFC 8037, RFC 8812): what a DPoP
 * challenge's `algs` may name. RFC 9449 section 4.2 rules out `none` and symmetric (HS*) ones.
 */
const PROOF_ALGORITHMS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'ES256K', 'EdDSA'])

type Params = Array<[string, string]>
interface Challenge { scheme: string, params: Params }
/** What a challenge says went wrong: nothing at all for a bare one. */
export interface ChallengeError { error?: string, description?: string, scope?: string }

/**
 * Splits a `WWW-Authenticate` value into its challenges, `Scheme name="value", name="value"`
 * separated by `, ` (RFC 7235 section 4.1 as this API writes it: one space after the scheme,
 * every parameter a quoted string of printable ASCII without `"` or `\`). A `, ` followed by a
 * word and a space starts the next challenge. Undefined when any part has another shape.
 */
function challengesIn (value: unknown): Challenge[] | undefined {
  if (typeof value !== 'string') return undefined
  const challenges: Challenge[] = []
  let rest = value
  for (;;) {
    const head = /^([A-Za-z]+) /.exec(rest)
    if (head === null) return undefined
    const params: Params = []
    challenges.push({ scheme: head[1], params })
    rest = rest.slice(head[0].length)
    do {
      const match = /^([a-z_]+)="([^"\\]*)"(, |$)/.exec(rest)
      if (match === null || !QUOTED_VALUE.test(match[2])) return undefined
      params.push([match[1], match[2]])
      rest = rest.slice(match[0].length)
      if (match[3] === '') return challenges
    } while (!/^[A-Za-z]+ /.test(rest))
  }
}

const shapeOf = (params: Params): string => params.map(([name]) => name).join()
const paramOf = (params: Params, name: string): string | undefined => params.find(([key]) => key === name)?.[1]

/**
 * `realm="api"`, then optionally `error` and `error_description`, then `scope` exactly when the
 * error is insufficient_scope: what these say, or undefined when they have another shape.
 */
function errorIn (params: Params, errors: Set<string>): ChallengeError | undefined {
  const allowed = ['realm', 'realm,error,error_description', 'realm,error,error_description,scope']
  if (!allowed.includes(shapeOf(params)) || paramOf(params, 'realm') !== 'api') return undefined
  const error = paramOf(params, 'error')
  if (error !== undefined && !errors.has(error)) return undefined
  const scope = paramOf(params, 'scope')
  if ((error === 'insufficient_scope') !== (scope !== undefined)) return undefined
  return { error, description: paramOf(params, 'error_description'), scope }
}

/** A challenge with nothing but `realm="api"`. */
const isBare = (params: Params): boolean => shapeOf(params) === 'realm' && paramOf(params, 'realm') === 'api'

/** `algs`: a non-empty list of distinct proof algorithm names separated by single spaces. */
function isAlgorithmList (algs: string): boolean {
  const names = algs.split(' ')
  return names.every(name => PROOF_ALGORITHMS.has(name)) && new Set(names).size === names.length
}

/** A DPoP challenge's parameters without its trailing `algs`, or undefined when `algs` is not last or not valid. */
function withoutAlgs (params: Params): Params | undefined {
  const last = params.at(-1)
  return last?.[0] === 'algs' && isAlgorithmList(last[1]) ? params.slice(0, -1) : undefined
}

/**
 * Parses a `WWW-Authenticate` value by RFC 6750 section 3 and RFC 9449 section 7.1 as this API
 * answers a request with a Bearer token or none, independently of the code that builds it:
 * `Bearer realm="api"`, then optionally `error`, `error_description` and `scope`, each once, in
 * that order; then optionally the DPoP offer, exactly `DPoP realm="api", algs="<proof
 * algorithms>"`. Returns the Bearer challenge's error, description and scope; undefined when the
 * value does not have that shape (anything else after it included).
 */
export function parseChallenge (value: unknown): ChallengeError | undefined {
  const challenges = challengesIn(value)
  if (challenges === undefined || challenges.length > 2) return undefined
  const [bearer, dpop] = challenges
  if (bearer.scheme !== 'Bearer') return undefined
  if (dpop !== undefined) {
    const rest = dpop.scheme === 'DPoP' ? withoutAlgs(dpop.params) : undefined
    if (rest === undefined || !isBare(rest)) return undefined
  }
  return errorIn(bearer.params, BEARER_ERRORS)
}

/**
 * The same for the answer to a request made with the DPoP scheme (RFC 9449 section 7.1): the DPoP
 * challenge first, carrying the error (its codes and RFC 6750's), `algs` last; then, where Bearer
 * is taken too, exactly `Bearer realm="api"`. Returns the DPoP challenge's error, description and
 * scope; undefined when the value does not have that shape.
 */
export function parseDpopChallenge (value: unknown): ChallengeError | undefined {
  const challenges = challengesIn(value)
  if (challenges === undefined || challenges.length > 2) return undefined
  const [dpop, bearer] = challenges
  if (dpop.scheme !== 'DPoP') return undefined
  if (bearer !== undefined && (bearer.scheme !== 'Bearer' || !isBare(bearer.params))) return undefined
  const rest = withoutAlgs(dpop.params)
  return rest === undefined ? undefined : errorIn(rest, DPOP_ERRORS)
}

/** Asserts the exact rejection, plus what any rejection must be: JSON, a parseable challenge. */
export function assertRejected (t: Test, response: LightMyRequestResponse | RawResponse, expected: Expected): void {
  const { status, headers, body } = seen(response)
  t.equal(status, expected.status, 'status')
  t.equal(headers['www-authenticate'], expected.challenge, 'WWW-Authenticate')
  const parse = expected.challenge.startsWith('DPoP ') ? parseDpopChallenge : parseChallenge
  t.ok(parse(headers['www-authenticate']), 'a well-formed challenge')
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

