import { TokenClientError } from './errors.js'

// Which URLs the client sends its secret to: https, or plain http to this machine only (a local
// issuer), and never a URL carrying credentials of its own (fetch would print it in its error).

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/** The URL's href, or a TokenClientError naming `what` (the value itself is not echoed). */
export function checkEndpointUrl (what: string, value: string): string {
  const url = URL.canParse(value) ? new URL(value) : undefined
  const transport = url?.protocol === 'https:' || (url?.protocol === 'http:' && LOOPBACK.has(url.hostname))
  if (url === undefined || !transport || url.username !== '' || url.password !== '') {
    throw new TokenClientError(`${what} must be an https URL (http only to localhost) without user or password`)
  }
  return url.href
}
