import { DEFAULT_TOKEN_LIFETIME_SECONDS, GRANT_TYPES, type ApiConfig, type ClientConfig, type GrantType, type IssuerConfig, type UserConfig } from './config.js'
import { parseSecretHash, type SecretHash } from './secret-hash.js'

/** RFC 6749 section 3.3 scope-token: printable ASCII except space, `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/**
 * Turns the parsed JSON into an IssuerConfig, or throws one line naming the file and the bad field.
 * Written by hand (no schema library) to keep the messages short and the dependencies as they are.
 */
export function parseIssuerConfig (json: unknown, file: string): IssuerConfig {
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
  const client = read.object(value, at, ['clientId', 'name', 'secretHash', 'grantTypes', 'scopes'])
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
    scopes: parseScopesPerApi(read, client.scopes, `${at}.scopes`, apis)
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

  secretHash (value: unknown, at: string): SecretHash {
    const parsed = parseSecretHash(this.string(value, at))
    if (typeof parsed === 'string') this.fail(at, parsed)
    return parsed
  }
}
