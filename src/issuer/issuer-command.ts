import closeWithGrace from 'close-with-grace'
import type { CliIo } from './cli-io.js'
import { retireOldKeys, rotateSigningKey, type KeySet } from './keys.js'
import { startLocalIssuer, type LocalIssuer } from './server.js'
import { resolveSettings } from './config.js'

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
