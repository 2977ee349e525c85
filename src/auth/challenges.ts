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

/**
 * challengeFor, remembered: a rejection's challenge is fixed for its scheme and mode, and answering
 * a flood of one bad token should not build the same string again for each request. Keyed by
 * the rejection's Bearer challenge (a constant string, one per rejection class or per route's
 * scope or claim rule), so it stays as small as the code's list of rejections.
 */
export class ChallengeCache {
  readonly #algs: string
  /** Built challenges by what decides them: DPOP=required (scheme aside), or allowed with a DPoP request or not. */
  readonly #required = new Map<string, string>()
  readonly #allowedDpop = new Map<string, string>()
  readonly #allowedOther = new Map<string, string>()

  constructor (algs: string) {
    this.#algs = algs
  }

  for (rejection: AuthRejection, scheme: TokenScheme | undefined, mode: DpopMode): string {
    if (mode === 'off') return rejection.challenge
    const built = mode === 'required' ? this.#required : scheme === 'DPoP' ? this.#allowedDpop : this.#allowedOther
    let value = built.get(rejection.challenge)
    if (value === undefined) {
      value = challengeFor(rejection, scheme, mode, this.#algs)
      built.set(rejection.challenge, value)
    }
    return value
  }
}
