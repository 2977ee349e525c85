import type { FastifyRequest } from 'fastify'
import type { DpopMode, DpopSettings } from '../config.js'
import type { DpopNonces } from '../dpop/nonces.js'
import { DpopProofVerifier, normalisedUrl, proofLifetimeSeconds } from '../dpop/proof-verifier.js'
import type { ReplayStore } from '../replay/replay-store.js'
import type { VerifiedToken } from './claims.js'
import {
  BoundTokenAsBearer, CertificateMismatch, CertificateRequired, DpopKeyMismatch, DpopNonceRequired, DpopProofDuplicate,
  DpopProofMissing, DpopProofReplayed, DpopRequired, MissingToken, ReplayStoreUnreachable, TokenNotDpopBound
} from './errors.js'
import { countHeaders, type PresentedToken } from './presented-token.js'

export interface BindingOptions {
  readonly dpop: DpopSettings
  /** CLOCK_TOLERANCE: how far replicas' clocks may differ, added to how long proofs are remembered. */
  readonly clockToleranceSeconds: number
  readonly replayStore: ReplayStore
  /** Server nonces, when DPOP_NONCE is on. */
  readonly nonces: DpopNonces | undefined
  /** The SHA-256 thumbprint of the client certificate the request came with, if any (RFC 8705). */
  readonly certificateOf: (request: FastifyRequest) => string | undefined
}

const DPOP = 'dpop'
/** Request paths whose expected htu is kept: an API has few, a scanner's many never crowd them out for long. */
const URL_CACHE_SIZE = 1000

/**
 * The sender-constraint of a verified token, checked on every request (unlike the token's own
 * verdict, it cannot be cached): a DPoP-bound token needs its scheme and a fresh proof signed by
 * its key, never seen before; a certificate-bound token needs that certificate. A bearer token
 * needs nothing. Rejections are thrown, or rejected when the replay store answers.
 */
export class TokenBinding {
  readonly #verifier: DpopProofVerifier
  readonly #options: BindingOptions
  readonly #publicUrl: string
  /** How long a proof is remembered: as long as any replica may still accept its iat. */
  readonly #replayTtlSeconds: number
  readonly #urls = new Map<string, string>()

  constructor (options: BindingOptions) {
    this.#options = options
    this.#verifier = new DpopProofVerifier(options.dpop)
    this.#publicUrl = options.dpop.publicUrl
    this.#replayTtlSeconds = proofLifetimeSeconds(options.dpop) + options.clockToleranceSeconds + 1
  }

  check (request: FastifyRequest, presented: PresentedToken, token: VerifiedToken): Promise<void> | undefined {
    const { jkt, certificateThumbprint } = token.binding
    if (certificateThumbprint !== undefined) this.#checkCertificate(request, certificateThumbprint)
    if (presented.scheme === 'Bearer') {
      // RFC 9449 section 7.2: a DPoP-bound token sent as a bearer token is a stolen one until proven otherwise.
      if (jkt !== undefined) throw new BoundTokenAsBearer()
      return undefined
    }
    if (jkt === undefined) throw new TokenNotDpopBound()
    return this.#checkProof(request, presented.token, jkt)
  }

  #checkCertificate (request: FastifyRequest, expected: string): void {
    const presented = this.#options.certificateOf(request)
    if (presented === undefined) throw new CertificateRequired()
    if (presented !== expected) throw new CertificateMismatch()
  }

  async #checkProof (request: FastifyRequest, accessToken: string, jkt: string): Promise<void> {
    const proof = request.headers.dpop
    if (countHeaders(request.raw.rawHeaders, DPOP) > 1) throw new DpopProofDuplicate()
    if (typeof proof !== 'string') throw new DpopProofMissing()
    const checked = this.#verifier.check(proof, { method: request.method, url: this.#expectedUrl(request.url), accessToken })
    if (checked.thumbprint !== jkt) throw new DpopKeyMismatch()
    const nonces = this.#options.nonces
    if (nonces !== undefined && !nonces.accepts(checked.nonce)) throw new DpopNonceRequired()
    let first: boolean
    try {
      // Per key: one client's jti can never collide with another's.
      first = await this.#options.replayStore.claimOnce(`${jkt}:${checked.jti}`, this.#replayTtlSeconds)
    } catch {
      throw new ReplayStoreUnreachable()
    }
    if (!first) throw new DpopProofReplayed()
  }

  /**
   * The URL a proof must name: PUBLIC_URL and the request's path, never a Host or X-Forwarded-*
   * header (a caller sets those). The path is appended as text: a path such as `//evil.example`
   * stays a path. It must be in normal form already: the router serves the path as sent, so a
   * proof for `/a/x` must not pass on `/a/b/../x` or `/a/b/%2e%2e/x`, and an absolute-form
   * target (`GET http://host/path`) has no normal form here at all. Such requests match no htu:
   * the empty string never equals a normalised one.
   */
  #expectedUrl (url: string): string {
    const query = url.indexOf('?')
    const path = query === -1 ? url : url.slice(0, query)
    let expected = this.#urls.get(path)
    if (expected === undefined) {
      const named = this.#publicUrl + path
      expected = normalisedUrl(named) === named ? named : ''
      if (this.#urls.size >= URL_CACHE_SIZE) this.#urls.clear()
      this.#urls.set(path, expected)
    }
    return expected
  }
}

/** Whether the route takes the scheme the token came in: Bearer where DPoP is required, or DPoP where it is off, it does not. */
export function checkScheme (scheme: PresentedToken['scheme'], mode: DpopMode): void {
  // With DPoP off, the DPoP scheme is as unknown as any other: no credentials this route takes.
  if (scheme === 'DPoP' && mode === 'off') throw new MissingToken()
  if (scheme === 'Bearer' && mode === 'required') throw new DpopRequired()
}
