import { TOKEN_PATH, type TokenResponse } from './routes.js'

export interface ClientCredentialsRequest {
  readonly issuer: string
  readonly clientId: string
  readonly clientSecret: string
  readonly audience: string
  readonly scope?: string | undefined
  readonly timeoutMs?: number
}

/** Fails fast instead of hanging when something else holds the port and never answers. */
const DEFAULT_TIMEOUT_MS = 10_000

/**
 * Gets an access token the way a quickstart's curl does: a JSON client_credentials request to
 * the issuer's /oauth/token. Throws one-line errors meant for a terminal.
 */
export async function requestClientCredentialsToken (request: ClientCredentialsRequest): Promise<string> {
  const url = new URL(TOKEN_PATH.slice(1), request.issuer)
  let response: Response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_id: request.clientId,
        client_secret: request.clientSecret,
        audience: request.audience,
        grant_type: 'client_credentials',
        ...(request.scope === undefined ? {} : { scope: request.scope })
      }),
      signal: AbortSignal.timeout(request.timeoutMs ?? DEFAULT_TIMEOUT_MS)
    })
  } catch (err) {
    const cause = (err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message
    throw new Error(`cannot reach the issuer at ${url.href} (${cause}); is it running? Start it with: npm run issuer`)
  }
  const body = await response.json().catch(() => undefined) as Partial<TokenResponse & { error: string, error_description: string }> | undefined
  if (!response.ok || typeof body?.access_token !== 'string') {
    const reason = body?.error === undefined ? 'unexpected response' : `${body.error}: ${body.error_description}`
    throw new Error(`token request failed with HTTP ${response.status}: ${reason}`)
  }
  return body.access_token
}
