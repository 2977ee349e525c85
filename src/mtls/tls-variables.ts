import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseEnv } from 'node:util'

/** The variables that decide whether the service speaks TLS: file paths to PEM. */
export interface TlsVariables {
  TLS_CERT?: string
  TLS_KEY?: string
  TLS_CLIENT_CA?: string
}

const NAMES = ['TLS_CERT', 'TLS_KEY', 'TLS_CLIENT_CA'] as const

/**
 * The TLS variables, read before the Fastify instance exists (https options go to its
 * constructor), from the same place plugins/env.ts will read the rest: `env` alone when given
 * (tests), else `.env` in the working directory overridden by process.env. That is what
 * @fastify/env 7 (env-schema) does with `dotenv: true`: it parses `.env` itself (node:util
 * parseEnv, no dotenv package) and never copies it into process.env, so process.env alone would
 * miss a TLS_CERT set in `.env`. A missing `.env` is no error; an unreadable one is, as there.
 */
export function tlsVariables (env?: Readonly<Record<string, string | undefined>>, dotenvPath = '.env'): TlsVariables {
  const source = env ?? { ...readDotenv(dotenvPath), ...process.env }
  const variables: TlsVariables = {}
  for (const name of NAMES) {
    // Blank is unset, as for the other optional paths (ISSUERS_FILE, LOCAL_ISSUER_CONFIG).
    const value = source[name]?.trim()
    if (value) variables[name] = value
  }
  return variables
}

function readDotenv (path: string): NodeJS.Dict<string> {
  try {
    return parseEnv(readFileSync(resolve(path), 'utf8'))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw error
  }
}
