/**
 * What a rejection's `WWW-Authenticate` offers besides Bearer. With DPoP `allowed` (the default),
 * a request with a Bearer token, or with no or an unknown credential, gets the Bearer challenge
 * (carrying the error) and then a bare DPoP challenge listing the proof algorithms (RFC 9449
 * section 7.1). Spelled out here by hand, not taken from the code that builds it.
 */

/** The proof algorithms the DPoP challenge lists by default: DPOP_ALGORITHMS' default, joined by spaces. */
export const DPOP_ALGS = 'ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA'

/** The bare DPoP challenge of the default settings. */
export const DPOP_OFFER = `DPoP realm="api", algs="${DPOP_ALGS}"`

/** The whole `WWW-Authenticate` value with DPoP allowed: this Bearer challenge, then the DPoP offer. */
export function offered (bearerChallenge: string): string {
  return `${bearerChallenge}, ${DPOP_OFFER}`
}
