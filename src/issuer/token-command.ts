import { parseArgs } from 'node:util'
import type { CliIo } from './cli-io.js'
import { DEV_AUDIENCE, DEV_CLIENT_SECRETS, SCOPED_CLIENT, UNSCOPED_CLIENT } from '../dev-credentials.js'
import { defaultLocalIssuerUrl } from './config.js'
import { requestClientCredentialsToken } from './token-client.js'

export const TOKEN_USAGE = [
  'usage: token [--scope "read:messages"] [--audience URI] [--issuer URL] [--client-id ID --client-secret SECRET]',
  `  Prints an access token from the running local issuer (client_credentials grant). Without --scope it uses`,
  `  ${UNSCOPED_CLIENT} (a token with no scopes); with --scope, ${SCOPED_CLIENT}. Audience default: ${DEV_AUDIENCE}.`
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
    io.out(await requestClientCredentialsToken({
      issuer: values.issuer ?? defaultLocalIssuerUrl(env),
      clientId,
      clientSecret,
      audience: values.audience ?? DEV_AUDIENCE,
      scope: values.scope
    }))
    return 0
  } catch (err) {
    io.err(`token: ${(err as Error).message}`)
    return 1
  }
}
