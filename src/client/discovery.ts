import { checkEndpointUrl } from './endpoint-url.js'
import { DiscoveryError } from './errors.js'
import { exchange, jsonObject } from './exchange.js'

// Finding an issuer's token endpoint: OpenID Connect discovery, `<issuer>.well-known/openid-configuration`.

/** The issuer's token endpoint from its discovery document; `issuer` as Auth0 writes it, `https://tenant/`. */
export async function discoverTokenEndpoint (issuer: string, timeoutMs: number): Promise<string> {
  const base = issuer.endsWith('/') ? issuer : `${issuer}/`
  const url = new URL('.well-known/openid-configuration', base).href
  const answer = await exchange(url, { headers: { accept: 'application/json' } }, timeoutMs)
  if (answer.status !== 200) throw new DiscoveryError(url, `HTTP ${answer.status}`)
  const endpoint = jsonObject(answer.text)?.token_endpoint
  if (typeof endpoint !== 'string') throw new DiscoveryError(url, 'no token_endpoint in the document')
  return checkEndpointUrl(`the token_endpoint discovered at ${url}`, endpoint)
}
