import { readFile } from 'node:fs/promises'
import { parseIssuerConfig } from './config-parse.js'
import type { SecretHash } from './secret-hash.js'

export const GRANT_TYPES = ['client_credentials', 'password'] as const
export type GrantType = typeof GRANT_TYPES[number]

/** Auth0's default access-token lifetime. */
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 86400

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
