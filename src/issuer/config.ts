import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import { isProduction } from '../production.js'
import { pemCertificateThumbprint } from '../mtls/certificate-thumbprint.js'
import { findProjectRoot } from '../project-root.js'
import { parseSecretHash, type SecretHash } from './secret-hash.js'

// What the issuer is told: where it listens and keeps its files (options, then the LOCAL_ISSUER_*
// variables, then defaults), and which APIs, clients and users it knows (config/local-issuer.json).

export const DEFAULT_PORT = 3011
const DEFAULT_CONFIG_FILE = join('config', 'local-issuer.json')
const DEFAULT_KEY_DIR = '.local-issuer'

export interface LocalIssuerOptions {
  /** Default: LOCAL_ISSUER_PORT, else 3011. 0 picks a free port (tests). */
  port?: number
  /** 127.0.0.1 (default), ::1 or localhost; anything else is refused. */
  host?: string
  /** Default: LOCAL_ISSUER_CONFIG, else `<project root>/config/local-issuer.json`. */
  configPath?: string
  /** Default: LOCAL_ISSUER_KEY_DIR, else `<project root>/.local-issuer/`. */
  keyDir?: string
  /** A pino-compatible logger, or true/false for Fastify's own. Default: true. */
  logger?: FastifyBaseLogger | boolean
  /** Where NODE_ENV and the LOCAL_ISSUER_* variables are read. Default: process.env. */
  env?: NodeJS.ProcessEnv
  /**
   * Signs access tokens with a shared secret instead of the issuer's RSA key: HS256, HS384 or HS512
   * with `secret`, the API's SECRET (its UTF-8 bytes, at least 32). Default: RS256 with the key in keyDir.
   */
  signing?: { algorithm: string, secret: string }
}

export type LoopbackAddress = '127.0.0.1' | '::1'

export interface IssuerSettings {
  readonly port: number
  /** Where Fastify listens; the other loopback address gets a twin listener. */
  readonly host: LoopbackAddress
  readonly configPath: string
  readonly keyDir: string
  /** Set when access tokens are signed with a shared secret; undefined: RS256 with the RSA key. */
  readonly hmac: HmacSigning | undefined
}

export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const
export type HmacAlgorithm = typeof HMAC_ALGORITHMS[number]

export interface HmacSigning {
  readonly algorithm: HmacAlgorithm
  /** The secret's UTF-8 bytes, as Auth0 and the API use it. */
  readonly secret: Buffer
}

/** What the API requires of SECRET too. */
const MIN_SECRET_BYTES = 32

export const PRODUCTION_REFUSAL =
  'The local development issuer refuses to run with NODE_ENV=production: set ISSUER_BASE_URL to your real authorization server (e.g. https://YOUR_TENANT.auth0.com/).'

const LOOPBACK = new Map<string, LoopbackAddress>([['127.0.0.1', '127.0.0.1'], ['::1', '::1'], ['localhost', '127.0.0.1']])

export function resolveSettings (options: LocalIssuerOptions): IssuerSettings {
  const env = options.env ?? process.env
  if (isProduction(env.NODE_ENV)) throw new Error(PRODUCTION_REFUSAL)
  const root = (): string => findProjectRoot()
  // An empty path means the default, whether it came as an option or from the environment:
  // resolve('') is the working directory, where a private signing key must never be written.
  return {
    port: options.port ?? portFromEnv(env),
    host: loopbackAddress(options.host ?? '127.0.0.1'),
    configPath: resolve(unlessEmpty(options.configPath) ?? readEnv(env, 'LOCAL_ISSUER_CONFIG') ?? join(root(), DEFAULT_CONFIG_FILE)),
    keyDir: resolve(unlessEmpty(options.keyDir) ?? readEnv(env, 'LOCAL_ISSUER_KEY_DIR') ?? join(root(), DEFAULT_KEY_DIR)),
    hmac: hmacSigning(options.signing)
  }
}

/** The service passes its own ALGORITHMS and SECRET here; each mistake is one line naming the variable. */
function hmacSigning (signing: LocalIssuerOptions['signing']): HmacSigning | undefined {
  if (signing === undefined) return undefined
  const { algorithm, secret } = signing
  if (!(HMAC_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw new Error(`ALGORITHMS names ${algorithm}, which the local issuer cannot sign: it signs RS256 with its own key, or ${HMAC_ALGORITHMS.join(', ')} with SECRET`)
  }
  const bytes = Buffer.from(secret, 'utf8')
  if (bytes.length < MIN_SECRET_BYTES) throw new Error(`SECRET must be at least ${MIN_SECRET_BYTES} bytes long to sign ${algorithm} access tokens`)
  return { algorithm: algorithm as HmacAlgorithm, secret: bytes }
}

/** Where the local issuer runs by default: `http://localhost:<LOCAL_ISSUER_PORT or 3011>/`. */
export function defaultLocalIssuerUrl (env: NodeJS.ProcessEnv): string {
  return `http://localhost:${portFromEnv(env)}/`
}

function portFromEnv (env: NodeJS.ProcessEnv): number {
  const text = readEnv(env, 'LOCAL_ISSUER_PORT')
  if (text === undefined) return DEFAULT_PORT
  if (!/^\d+$/.test(text) || Number(text) > 65535) throw new Error(`Invalid LOCAL_ISSUER_PORT "${text}": expected a port number from 0 to 65535`)
  return Number(text)
}

/** An unset variable and an empty one mean the same: use the default. */
function readEnv (env: NodeJS.ProcessEnv, name: string): string | undefined {
  return unlessEmpty(env[name])
}

function unlessEmpty (value: string | undefined): string | undefined {
  return value === '' ? undefined : value
}

function loopbackAddress (host: string): LoopbackAddress {
  const address = LOOPBACK.get(host)
  if (address === undefined) {
    throw new Error(`Refusing to listen on "${host}": the local issuer listens on loopback only (127.0.0.1, ::1 or localhost)`)
  }
  return address
}

// The config file: the APIs tokens are for, and the clients and users who may get them.

export const GRANT_TYPES = ['client_credentials', 'password'] as const
export type GrantType = typeof GRANT_TYPES[number]

/** Auth0's default access-token lifetime. */
const DEFAULT_TOKEN_LIFETIME_SECONDS = 86400

export interface ApiConfig {
  readonly identifier: string
  readonly scopes: readonly string[]
  /** Like Auth0's "Enable RBAC" + "Add Permissions in the Access Token": adds a `permissions` claim. */
  readonly rbac: boolean
  readonly tokenLifetimeSeconds: number
}

export interface ClientConfig {
  readonly clientId: string
  readonly secretHash: SecretHash
  readonly grantTypes: ReadonlySet<GrantType>
  /** API identifier -> scopes granted on it; an API missing here is one the client may not call. */
  readonly scopes: ReadonlyMap<string, ReadonlySet<string>>
  /**
   * RFC 8705: the x5t#S256 of the client's registered certificate (its `certificate` PEM file),
   * which every token it gets is bound to (`cnf`); undefined for a client without one.
   */
  readonly certificateThumbprint: string | undefined
}

export interface UserConfig {
  readonly id: string
  readonly username: string
  readonly passwordHash: SecretHash
  readonly scopes: ReadonlyMap<string, ReadonlySet<string>>
}

export interface IssuerConfig {
  readonly apis: ReadonlyMap<string, ApiConfig>
  readonly clients: ReadonlyMap<string, ClientConfig>
  readonly users: ReadonlyMap<string, UserConfig>
}

/** Reads and validates the config file; every failure is one line naming the file and the field. */
export async function loadIssuerConfig (path: string): Promise<IssuerConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new Error(`Cannot read the local issuer config ${path}: ${(err as NodeJS.ErrnoException).code} (set LOCAL_ISSUER_CONFIG to another file)`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new Error(`Invalid local issuer config ${path}: not JSON (${(err as Error).message})`)
  }
  return parseIssuerConfig(json, path)
}

/** RFC 6749 section 3.3 scope-token: printable ASCII except space, `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/**
 * Turns the parsed JSON into an IssuerConfig, or throws one line naming the file and the bad field.
 * Written by hand (no schema library) to keep the messages short and the dependencies as they are.
 */
function parseIssuerConfig (json: unknown, file: string): IssuerConfig {
  const read = new FieldReader(file)
  const root = read.object(json, '(top level)', ['$comment', 'apis', 'clients', 'users'])
  const apis = new Map<string, ApiConfig>()
  read.list(root.apis, 'apis', true).forEach((value, i) => {
    const api = parseApi(read, value, `apis[${i}]`)
    if (apis.has(api.identifier)) read.fail(`apis[${i}].identifier`, `repeats "${api.identifier}"`)
    apis.set(api.identifier, api)
  })
  const clients = new Map<string, ClientConfig>()
  read.list(root.clients, 'clients', true).forEach((value, i) => {
    const client = parseClient(read, value, `clients[${i}]`, apis)
    if (clients.has(client.clientId)) read.fail(`clients[${i}].clientId`, `repeats "${client.clientId}"`)
    clients.set(client.clientId, client)
  })
  const users = new Map<string, UserConfig>()
  const userIds = new Set<string>()
  read.list(root.users ?? [], 'users', false).forEach((value, i) => {
    const user = parseUser(read, value, `users[${i}]`, apis)
    if (userIds.has(user.id)) read.fail(`users[${i}].id`, `repeats "${user.id}"`)
    if (users.has(user.username)) read.fail(`users[${i}].username`, `repeats "${user.username}"`)
    userIds.add(user.id)
    users.set(user.username, user)
  })
  return { apis, clients, users }
}

function parseApi (read: FieldReader, value: unknown, at: string): ApiConfig {
  const api = read.object(value, at, ['identifier', 'name', 'scopes', 'rbac', 'tokenLifetimeSeconds'])
  const identifier = read.string(api.identifier, `${at}.identifier`)
  read.optionalString(api.name, `${at}.name`)
  const scopes = read.list(api.scopes, `${at}.scopes`, false).map((scope, i) => {
    const where = `${at}.scopes[${i}]`
    const text = read.string(scope, where)
    if (!SCOPE_TOKEN.test(text)) read.fail(where, `"${text}" is not a valid scope (no spaces, quotes or backslashes)`)
    return text
  })
  read.unique(scopes, `${at}.scopes`)
  const lifetime = api.tokenLifetimeSeconds ?? DEFAULT_TOKEN_LIFETIME_SECONDS
  if (!Number.isSafeInteger(lifetime) || (lifetime as number) < 1) {
    read.fail(`${at}.tokenLifetimeSeconds`, 'must be a whole number of seconds above 0')
  }
  return {
    identifier,
    scopes,
    rbac: read.boolean(api.rbac ?? false, `${at}.rbac`),
    tokenLifetimeSeconds: lifetime as number
  }
}

function parseClient (read: FieldReader, value: unknown, at: string, apis: ReadonlyMap<string, ApiConfig>): ClientConfig {
  const client = read.object(value, at, ['clientId', 'name', 'secretHash', 'grantTypes', 'scopes', 'certificate'])
  const clientId = read.string(client.clientId, `${at}.clientId`)
  read.optionalString(client.name, `${at}.name`)
  const secretHash = read.secretHash(client.secretHash, `${at}.secretHash`)
  const grantTypes = read.list(client.grantTypes, `${at}.grantTypes`, true).map((grant, i) => {
    const where = `${at}.grantTypes[${i}]`
    const text = read.string(grant, where)
    if (!(GRANT_TYPES as readonly string[]).includes(text)) read.fail(where, `must be one of ${GRANT_TYPES.join(', ')} (got "${text}")`)
    return text as GrantType
  })
  read.unique(grantTypes, `${at}.grantTypes`)
  return {
    clientId,
    secretHash,
    grantTypes: new Set(grantTypes),
    scopes: parseScopesPerApi(read, client.scopes, `${at}.scopes`, apis),
    certificateThumbprint: client.certificate === undefined ? undefined : read.certificate(client.certificate, `${at}.certificate`)
  }
}

function parseUser (read: FieldReader, value: unknown, at: string, apis: ReadonlyMap<string, ApiConfig>): UserConfig {
  const user = read.object(value, at, ['id', 'username', 'passwordHash', 'scopes'])
  return {
    id: read.string(user.id, `${at}.id`),
    username: read.string(user.username, `${at}.username`),
    passwordHash: read.secretHash(user.passwordHash, `${at}.passwordHash`),
    scopes: parseScopesPerApi(read, user.scopes ?? {}, `${at}.scopes`, apis)
  }
}

/** `{ "<api identifier>": ["scope", ...] }`, each scope one the API defines. */
function parseScopesPerApi (read: FieldReader, value: unknown, at: string, apis: ReadonlyMap<string, ApiConfig>): ReadonlyMap<string, ReadonlySet<string>> {
  const result = new Map<string, ReadonlySet<string>>()
  for (const [identifier, scopes] of Object.entries(read.object(value, at))) {
    const where = `${at}["${identifier}"]`
    const api = apis.get(identifier)
    if (api === undefined) read.fail(where, 'names an API that is not in apis')
    const granted = read.list(scopes, where, false).map((scope, i) => {
      const text = read.string(scope, `${where}[${i}]`)
      if (!api.scopes.includes(text)) read.fail(`${where}[${i}]`, `"${text}" is not a scope of that API`)
      return text
    })
    read.unique(granted, where)
    result.set(identifier, new Set(granted))
  }
  return result
}

/** Type checks that fail with the field's path, e.g. `clients[1].grantTypes[0]`. */
class FieldReader {
  constructor (private readonly file: string) {}

  fail (at: string, problem: string): never {
    throw new Error(`Invalid local issuer config ${this.file}: ${at} ${problem}`)
  }

  object (value: unknown, at: string, allowedKeys?: readonly string[]): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(at, 'must be an object')
    const record = value as Record<string, unknown>
    if (allowedKeys !== undefined) {
      // Unknown keys are almost always typos ("grantType"), which would otherwise be silently ignored.
      const unknown = Object.keys(record).find(key => !allowedKeys.includes(key))
      if (unknown !== undefined) this.fail(at, `has unknown field "${unknown}" (expected ${allowedKeys.join(', ')})`)
    }
    return record
  }

  list (value: unknown, at: string, nonEmpty: boolean): unknown[] {
    if (!Array.isArray(value)) this.fail(at, 'must be an array')
    if (nonEmpty && value.length === 0) this.fail(at, 'must not be empty')
    return value
  }

  string (value: unknown, at: string): string {
    if (typeof value !== 'string' || value === '') this.fail(at, 'must be a non-empty string')
    return value
  }

  optionalString (value: unknown, at: string): void {
    if (value !== undefined) this.string(value, at)
  }

  boolean (value: unknown, at: string): boolean {
    if (typeof value !== 'boolean') this.fail(at, 'must be true or false')
    return value
  }

  unique (values: readonly string[], at: string): void {
    const repeated = values.find((value, i) => values.indexOf(value) !== i)
    if (repeated !== undefined) this.fail(at, `lists "${repeated}" twice`)
  }

  /**
   * The x5t#S256 of a PEM certificate file, its path relative to the config file. Read once at
   * start-up, synchronously like the rest of the parse.
   */
  certificate (value: unknown, at: string): string {
    const path = resolve(dirname(this.file), this.string(value, at))
    let pem: string
    try {
      pem = readFileSync(path, 'utf8')
    } catch (err) {
      this.fail(at, `cannot be read: ${path} (${(err as NodeJS.ErrnoException).code})`)
    }
    try {
      return pemCertificateThumbprint(pem)
    } catch {
      this.fail(at, `is not a PEM certificate: ${path}`)
    }
  }

  secretHash (value: unknown, at: string): SecretHash {
    const parsed = parseSecretHash(this.string(value, at))
    if (typeof parsed === 'string') this.fail(at, parsed)
    return parsed
  }
}
