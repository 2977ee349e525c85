import { ALGORITHMS_FOR_KEY_SETS } from '../auth/algorithms.js'
import { AuthRejection } from '../auth/errors.js'
import { DpopProofVerifier, proofLifetimeSeconds } from '../dpop/proof-verifier.js'
import { MemoryReplayStore } from '../replay/memory-store.js'
import type { ReplayStore } from '../replay/replay-store.js'
import { OAuthError } from './oauth-error.js'

// DPoP at the token endpoint (RFC 9449 section 5): a token request with a valid proof gets a token
// bound to the proof's key. The proof is checked as the API checks its own (src/dpop), for POST
// and the issuer's own token endpoint, and each proof is accepted once.

/** The proof algorithms the issuer takes: every public-key JWS algorithm, as the API's default. */
export const DPOP_SIGNING_ALGORITHMS = ALGORITHMS_FOR_KEY_SETS

/** The API's defaults (DPOP_MAX_AGE, DPOP_MAX_FUTURE): a proof is made just before its request. */
const MAX_AGE_SECONDS = 300
const MAX_FUTURE_SECONDS = 30
/** Proofs a development issuer remembers at once; past that, DPoP token requests get a 503. */
const REPLAY_CAPACITY = 100_000

const PROOF_RULES = { algorithms: DPOP_SIGNING_ALGORITHMS, maxAgeSeconds: MAX_AGE_SECONDS, maxFutureSeconds: MAX_FUTURE_SECONDS }

export class TokenEndpointDpop {
  readonly #verifier = new DpopProofVerifier(PROOF_RULES)

  readonly #replays: Pick<ReplayStore, 'claimOnce' | 'close'>
  /** The token endpoint as the issuer names it (from its port), never from the request's Host. */
  readonly #tokenEndpoint: () => string

  constructor (tokenEndpoint: () => string, replays: Pick<ReplayStore, 'claimOnce' | 'close'> = new MemoryReplayStore({ capacity: REPLAY_CAPACITY })) {
    this.#tokenEndpoint = tokenEndpoint
    this.#replays = replays
  }

  /**
   * The thumbprint (`cnf.jkt`) of the key whose proof came with the request, undefined when none
   * came (a Bearer token), or an OAuthError: invalid_dpop_proof for any proof not accepted,
   * temporarily_unavailable when proofs cannot be remembered now.
   */
  async keyThumbprint (proofs: readonly string[] | undefined, now = Date.now()): Promise<string | undefined> {
    if (proofs === undefined) return undefined
    if (proofs.length !== 1) throw new OAuthError('invalid_dpop_proof', 'send exactly one DPoP header')
    const expected = this.#tokenEndpoint()
    let thumbprint: string
    let jti: string
    try {
      ({ thumbprint, jti } = this.#verifier.check(proofs[0] as string, { method: 'POST', url: expected }, now))
    } catch (error) {
      throw invalidProof(error, expected)
    }
    // Keyed by the key too: a jti is unique only among one client's proofs. A store that cannot
    // answer (full) fails closed, as its contract asks.
    const first = await this.#replays.claimOnce(`${thumbprint}:${jti}`, proofLifetimeSeconds(PROOF_RULES)).catch(() => {
      throw new OAuthError('temporarily_unavailable', 'too many DPoP proofs to remember; retry shortly')
    })
    if (!first) throw new OAuthError('invalid_dpop_proof', 'the DPoP proof was already used: make a new proof for every request')
    return thumbprint
  }

  async close (): Promise<void> {
    await this.#replays.close()
  }
}

/** The verifier's rejection in the issuer's words; its messages name the failed step, never the proof. */
function invalidProof (error: unknown, expected: string): unknown {
  /* c8 ignore next -- check() throws only its rejections; anything else is a bug, for the 500 handler */
  if (!(error instanceof AuthRejection)) return error
  return new OAuthError('invalid_dpop_proof', describe(error, expected))
}

function describe ({ code, message }: AuthRejection, expected: string): string {
  // The verifier's own words speak of "this API" or "this request"; these say what the issuer wants.
  if (code === 'AUTH_DPOP_PROOF_URL') return `the DPoP proof htu must be ${expected}`
  if (code === 'AUTH_DPOP_PROOF_ALGORITHM') return `the DPoP proof alg must be one of ${DPOP_SIGNING_ALGORITHMS.join(', ')}`
  return message.charAt(0).toLowerCase() + message.slice(1)
}
