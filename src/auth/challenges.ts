import type { DpopMode } from '../config.js'
import { challenge, type AuthRejection } from './errors.js'
import type { TokenScheme } from './presented-token.js'

/**
 * The `WWW-Authenticate` value of a rejection (RFC 6750 section 3, RFC 9449 section 7.1). The
 * scheme the request used carries the error; when a route takes both schemes, the other is
 * offered too, bare. DPoP's challenge lists the proof algorithms (`algs`). With DPoP off it is
 * the Bearer challenge alone, as built once per rejection.
 */
export function challengeFor (rejection: AuthRejection, scheme: TokenScheme | undefined, mode: DpopMode, algs: string): string {
  if (mode === 'off') return rejection.challenge
  const dpop = (kind: AuthRejection['kind']): string => challenge('DPoP', kind, rejection.message, rejection.scope, algs)
  if (mode === 'required') return dpop(rejection.kind)
  if (scheme === 'DPoP') return `${dpop(rejection.kind)}, ${challenge('Bearer', 'missing', '')}`
  return `${rejection.challenge}, ${dpop('missing')}`
}
