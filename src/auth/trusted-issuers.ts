import type { FastifyBaseLogger } from 'fastify'
import type { AuthSettings, IssuerSettings } from '../config.js'
import type { AsymmetricAlgorithm, JwsAlgorithm } from './algorithms.js'
import type { ClaimsPolicy } from './claims.js'
import { InvalidClaim, MissingClaim, WrongIssuer } from './errors.js'
import type { IssuerKey } from './jwks.js'
import { KeySet, type KeySetFetchObserver, type KeySetStatus } from './key-set.js'
import { checkHeader, checkKeyAlgorithm } from './token-header.js'

/** One issuer of the allow-list: its claim policy and where its verification keys come from. */
export interface TrustedIssuer {
  readonly issuer: string
  readonly algorithms: readonly JwsAlgorithm[]
  readonly policy: ClaimsPolicy
  /** The issuer's key set; undefined for an HMAC issuer, which has its secret instead. */
  readonly keySet: KeySet | undefined
  /**
   * The key a token with this header is verified with: the header rules, then the issuer's key
   * for its kid (bound to its algorithms), or the issuer's secret. Throws (or rejects with) the rejection.
   */
  keyFor: (header: Record<string, unknown>) => string | Promise<string>
}

/** How /health/ready and the metrics see one issuer. */
export interface IssuerStatus extends KeySetStatus {
  issuer: string
}

export interface TrustedIssuersOptions {
  log: FastifyBaseLogger
  /** Told which kids of which issuer stopped being trusted. */
  onKeysRetired: (issuer: string, kids: string[]) => void
}

/**
 * The issuer allow-list. A token's `iss` is matched exactly, before any key is looked up or any
 * URL fetched, so an unknown issuer costs no network call. Each issuer has its own key set (its own
 * discovery, cache, cooldown and stale limit) or its own secret: a kid published by one issuer
 * never verifies another's token, and one issuer's outage or flood never reaches another's tokens.
 */
export class TrustedIssuers {
  readonly #issuers = new Map<string, TrustedIssuer>()

  constructor (settings: AuthSettings, options: TrustedIssuersOptions) {
    for (const issuer of settings.issuers) {
      const policy: ClaimsPolicy = {
        audiences: issuer.audiences,
        clockToleranceMs: settings.clockToleranceSeconds * 1000,
        maxTokenAgeMs: settings.maxTokenAgeSeconds === undefined ? undefined : settings.maxTokenAgeSeconds * 1000,
        strictRfc9068: settings.strictRfc9068
      }
      const trusted = issuer.secret === undefined
        ? withKeySet(issuer, policy, new KeySet({
          ...settings.keySet,
          issuer: issuer.issuer,
          jwksUri: issuer.jwksUri,
          algorithms: issuer.algorithms as AsymmetricAlgorithm[],
          log: options.log.child({ issuer: issuer.issuer }),
          onKeysRetired: kids => { options.onKeysRetired(issuer.issuer, kids) }
        }), settings.strictRfc9068)
        : withSecret(issuer, policy, issuer.secret, settings.strictRfc9068)
      this.#issuers.set(issuer.issuer, trusted)
    }
  }

  /** The iss rule: present, a string, and exactly one of the allow-list. */
  of (claims: Record<string, unknown>): TrustedIssuer {
    if (!('iss' in claims)) throw new MissingClaim()
    const { iss } = claims
    if (typeof iss !== 'string') throw Array.isArray(iss) ? new WrongIssuer() : new InvalidClaim()
    const trusted = this.#issuers.get(iss)
    if (trusted === undefined) throw new WrongIssuer()
    return trusted
  }

  /** Every issuer, in the configured order. */
  all (): TrustedIssuer[] {
    return [...this.#issuers.values()]
  }

  /** Every algorithm some issuer allows: fast-jwt's own allow-list (each issuer's is checked first). */
  algorithms (): JwsAlgorithm[] {
    return [...new Set(this.all().flatMap(issuer => issuer.algorithms))]
  }

  /** One status per issuer: an HMAC issuer is always ready, a key set once its keys are loaded. */
  status (): IssuerStatus[] {
    return this.all().map(({ issuer, keySet }) => ({ issuer, ...(keySet?.status() ?? { ready: true, keys: 0, stale: false }) }))
  }

  onFetch (observer: (issuer: string, fetch: Parameters<KeySetFetchObserver>[0]) => void): void {
    for (const { issuer, keySet } of this.all()) keySet?.onFetch(fetch => { observer(issuer, fetch) })
  }

  async start (): Promise<void> {
    await Promise.all(this.all().map(async issuer => await issuer.keySet?.start()))
  }

  close (): void {
    for (const issuer of this.all()) issuer.keySet?.close()
  }
}

function withKeySet (settings: IssuerSettings, policy: ClaimsPolicy, keySet: KeySet, strict: boolean): TrustedIssuer {
  const keyOf = (alg: JwsAlgorithm) => (key: IssuerKey): string => {
    checkKeyAlgorithm(key, alg)
    return key.pem
  }
  return {
    issuer: settings.issuer,
    algorithms: settings.algorithms,
    policy,
    keySet,
    keyFor (header) {
      const { alg, kid } = checkHeader(header, settings.algorithms, { kidRequired: true, strict })
      const key = keySet.get(kid as string)
      return key instanceof Promise ? key.then(keyOf(alg)) : keyOf(alg)(key)
    }
  }
}

function withSecret (settings: IssuerSettings, policy: ClaimsPolicy, secret: string, strict: boolean): TrustedIssuer {
  return {
    issuer: settings.issuer,
    algorithms: settings.algorithms,
    policy,
    keySet: undefined,
    keyFor (header) {
      // No kid needed: an HMAC issuer has one secret.
      checkHeader(header, settings.algorithms, { kidRequired: false, strict })
      return secret
    }
  }
}
