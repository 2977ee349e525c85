import type { DpopProofSigner } from '../dpop/proof-signer.js'

// The client's side of DPoP (RFC 9449): a proof for each request, signed by the caller's key, with
// the nonce the server last handed out (section 8 at a resource, section 5 at a token endpoint).

/** RFC 9449 section 8.1: a nonce is 1*NQCHAR; anything else is not one to sign. */
const NONCE = /^[\x21\x23-\x5B\x5D-\x7E]{1,512}$/
/** A service calls few origins; this bounds what a caller feeding it many URLs can make it keep. */
const MAX_ORIGINS = 256
/** Methods fetch() upper-cases (the Fetch standard's normalisation); it sends any other as given. */
const NORMALISED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'])

export class DpopSession {
  readonly #signer: DpopProofSigner
  /** The latest DPoP-Nonce each origin sent, oldest first. */
  readonly #nonces = new Map<string, string>()

  constructor (signer: DpopProofSigner) {
    this.#signer = signer
  }

  /** The `DPoP` header for a request: htm and htu (no query or fragment), ath when a token goes with it. */
  proof (method: string | undefined, url: string | URL, accessToken?: string): string {
    const { origin, pathname } = new URL(url)
    return this.#signer.proof({ htm: httpMethod(method), htu: `${origin}${pathname}`, accessToken, nonce: this.#nonces.get(origin) })
  }

  /** Keeps the answer's DPoP-Nonce for the next proofs to its origin; true when it carried one. */
  remember (url: string | URL, headers: Headers): boolean {
    const nonce = headers.get('dpop-nonce')
    if (nonce === null || !NONCE.test(nonce)) return false
    const { origin } = new URL(url)
    this.#nonces.delete(origin)
    this.#nonces.set(origin, nonce)
    if (this.#nonces.size > MAX_ORIGINS) this.#nonces.delete(this.#nonces.keys().next().value as string)
    return true
  }
}

/** The method as fetch() sends it, so htm matches the request line. */
function httpMethod (method = 'GET'): string {
  const upper = method.toUpperCase()
  return NORMALISED_METHODS.has(upper) ? upper : method
}

/** RFC 9449 section 9: a resource's 401 asking for a nonce, `error="use_dpop_nonce"` in its challenge. */
export function asksForNonce (response: Response): boolean {
  return response.status === 401 && /(?:^|[\s,])error\s*=\s*"?use_dpop_nonce"?(?:$|[\s,])/i.test(response.headers.get('www-authenticate') ?? '')
}
