import closeWithGrace from 'close-with-grace'
import { parseArgs } from 'node:util'
import { IssuerUnreachableError, TokenClient, TokenRequestError } from '../client/token-client.js'
import { DEV_AUDIENCE, DEV_CLIENT_SECRETS, SCOPED_CLIENT, UNSCOPED_CLIENT } from '../dev-credentials.js'
import type { DpopProofSigner } from '../dpop/proof-signer.js'
import { defaultLocalIssuerUrl, resolveSettings } from './config.js'
import { loadOrCreateDpopKey, saveLastDpopToken } from './dpop-key-file.js'
import { retireOldKeys, rotateSigningKey, type KeySet } from './keys.js'
import { TOKEN_PATH } from './routes.js'
import { startLocalIssuer, type LocalIssuer } from './server.js'

// The `issuer` and `token` commands without the process (cli.ts and token-cli.ts run them); the
// token command asks the issuer through the token client in src/client.

/** Where a command writes: process streams in the CLIs, arrays in tests. */
export interface CliIo {
  out(line: string): void
  err(line: string): void
}

export const processIo: CliIo = {
  out: line => { process.stdout.write(line + '\n') },
  err: line => { process.stderr.write(line + '\n') }
}

export const ISSUER_USAGE = [
  'usage: issuer [start | rotate | retire]',
  '  start   run the local development issuer (default); LOCAL_ISSUER_PORT, LOCAL_ISSUER_CONFIG, LOCAL_ISSUER_KEY_DIR',
  '  rotate  add a new signing key; older keys stay published so their tokens still verify',
  '  retire  stop publishing every key except the signing one'
].join('\n')

/** The `issuer` CLI without the process: returns the exit code (0 once the server listens). */
export async function runIssuerCommand (args: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const [command = 'start', ...extra] = args
  if (extra.length > 0 || !['start', 'rotate', 'retire', 'help'].includes(command)) {
    io.err(ISSUER_USAGE)
    return 1
  }
  try {
    if (command === 'help') {
      io.out(ISSUER_USAGE)
    } else if (command === 'start') {
      await startUntilSignal(env)
    } else if (command === 'rotate') {
      const keys = await rotateSigningKey(resolveSettings({ env }).keyDir)
      io.out(`Added signing key ${keys.signing.kid}. Published keys: ${describe(keys)}.`)
      io.out('Tokens signed with older keys keep verifying until you retire them.')
    } else {
      const { retired, keys } = await retireOldKeys(resolveSettings({ env }).keyDir)
      io.out(retired.length === 0
        ? `Nothing to retire. Published keys: ${describe(keys)}.`
        : `Retired ${retired.map(key => key.kid).join(', ')}. Published keys: ${describe(keys)}.`)
    }
    return 0
  } catch (err) {
    io.err(`local issuer: ${(err as Error).message}`)
    return 1
  }
}

function describe ({ published, signing }: KeySet): string {
  return published.map(key => key === signing ? `${key.kid} (signing)` : key.kid).join(', ')
}

/** Runs until SIGINT/SIGTERM, then lets in-flight requests finish before exiting. */
async function startUntilSignal (env: NodeJS.ProcessEnv): Promise<void> {
  const issuer = await startLocalIssuer({ env })
  closeWithGrace({ delay: 10_000, logger: issuer.app.log }, shutdown(issuer))
}

/** close-with-grace's callback: says why the issuer stops, then closes it. */
export function shutdown (issuer: Pick<LocalIssuer, 'app' | 'close'>): (event: { signal?: string, err?: Error }) => Promise<void> {
  return async ({ signal, err }) => {
    if (err !== undefined) issuer.app.log.error({ err }, 'shutting down after an error')
    else issuer.app.log.info(`${signal} received: shutting down`)
    await issuer.close()
  }
}

export const TOKEN_USAGE = [
  'usage: token [--scope "read:messages"] [--audience URI] [--issuer URL] [--client-id ID --client-secret SECRET] [--dpop]',
  `  Prints an access token from the running local issuer (client_credentials grant). Without --scope it uses`,
  `  ${UNSCOPED_CLIENT} (a token with no scopes); with --scope, ${SCOPED_CLIENT}. Audience default: ${DEV_AUDIENCE}.`,
  '  --dpop: a DPoP-bound token (RFC 9449), bound to the ES256 key in LOCAL_ISSUER_KEY_DIR (default',
  '  .local-issuer/dpop-key.pem, made on first use); the token is saved there too, for the dpop command.'
].join('\n')

/** The `token` CLI without the process: prints only the token on stdout, returns the exit code. */
export async function runTokenCommand (args: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  try {
    const { values } = parseArgs({
      args: [...args],
      options: {
        scope: { type: 'string' },
        audience: { type: 'string' },
        issuer: { type: 'string' },
        'client-id': { type: 'string' },
        'client-secret': { type: 'string' },
        dpop: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    })
    if (values.help === true) {
      io.out(TOKEN_USAGE)
      return 0
    }
    const clientId = values['client-id'] ?? (values.scope === undefined ? UNSCOPED_CLIENT : SCOPED_CLIENT)
    const clientSecret = values['client-secret'] ?? DEV_CLIENT_SECRETS.get(clientId)
    if (clientSecret === undefined) throw new Error(`--client-secret is required for client "${clientId}"`)
    const keyDir = values.dpop === true ? resolveSettings({ env }).keyDir : undefined
    const token = await requestClientCredentialsToken({
      issuer: values.issuer ?? defaultLocalIssuerUrl(env),
      clientId,
      clientSecret,
      audience: values.audience ?? DEV_AUDIENCE,
      scope: values.scope,
      dpop: keyDir === undefined ? undefined : await loadOrCreateDpopKey(keyDir)
    })
    if (keyDir !== undefined) await saveLastDpopToken(keyDir, token)
    io.out(token)
    return 0
  } catch (err) {
    io.err(`token: ${(err as Error).message}`)
    return 1
  }
}

export interface ClientCredentialsRequest {
  readonly issuer: string
  readonly clientId: string
  readonly clientSecret: string
  readonly audience: string
  readonly scope?: string | undefined
  readonly timeoutMs?: number
  /** A DPoP key: the token is bound to it. */
  readonly dpop?: DpopProofSigner | undefined
}

/** Fails fast instead of hanging when something else holds the port and never answers. */
const DEFAULT_TIMEOUT_MS = 10_000

/**
 * Gets an access token as a calling service would, through the token client (src/client): a
 * client_credentials request to the issuer's /oauth/token, repeated on 429 and 5xx. Throws
 * one-line errors meant for a terminal.
 */
export async function requestClientCredentialsToken (request: ClientCredentialsRequest): Promise<string> {
  const tokenEndpoint = new URL(TOKEN_PATH.slice(1), request.issuer).href
  try {
    const client = new TokenClient({
      tokenEndpoint,
      clientId: request.clientId,
      clientSecret: request.clientSecret,
      timeoutMs: request.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      dpop: request.dpop
    })
    return (await client.getToken({ audience: request.audience, scope: request.scope })).accessToken
  } catch (err) {
    throw new Error(forTerminal(err as Error))
  }
}

function forTerminal (err: Error): string {
  if (err instanceof IssuerUnreachableError) {
    return `cannot reach the issuer at ${err.url} (${err.reason}); is it running? Start it with: npm run issuer`
  }
  if (err instanceof TokenRequestError) {
    return `token request failed with HTTP ${err.status}: ${err.error === undefined ? 'unexpected response' : `${err.error}: ${err.description}`}`
  }
  return err.message
}
