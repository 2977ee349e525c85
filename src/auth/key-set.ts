import type { FastifyBaseLogger } from 'fastify'
import type { AsymmetricAlgorithm } from './algorithms.js'
import { isLoopbackHost } from '../config.js'
import { KeysUnavailable, UnknownKey } from './errors.js'
import { fetchJson, IssuerFetchError, type FetchLimits } from './fetch-json.js'
import { KeySetFormatError, parseKeySet, type IssuerKey } from './jwks.js'

export interface KeySetOptions {
  /** The configured issuer; discovery happens below it and nowhere else. */
  issuer: string
  /** Configured key set URL; when absent it is discovered from the issuer. */
  jwksUri: string | undefined
  algorithms: readonly AsymmetricAlgorithm[]
  timeoutMs: number
  maxBytes: number
  /** How long a fetched set is trusted; it is refreshed in the background before then. */
  ttlMs: number
  /** Least time between two fetches caused by unknown kids, for the whole process. */
  cooldownMs: number
  /** How long past its TTL the last good set keeps serving while the issuer fails. */
  staleLimitMs: number
  log: FastifyBaseLogger
  /** Told which kids stopped being trusted (left the set, changed, or the whole set expired). */
  onKeysRetired?: (kids: string[]) => void
}

export interface KeySetStatus {
  ready: boolean
  keys: number
  /** Seconds since the set in use was fetched. */
  ageSeconds?: number
  /** True while serving a set older than its TTL because the issuer fails. */
  stale: boolean
  /** Why the last fetch failed, while it keeps failing. */
  reason?: string
}

/** One fetch of the key set (discovery included), as told to a fetch observer such as the metrics. */
export interface KeySetFetch {
  ok: boolean
  durationMs: number
}

export type KeySetFetchObserver = (fetch: KeySetFetch) => void

/** Background refreshes start this far into the TTL, so steady-state requests never wait. */
const REFRESH_AT = 0.8
const FIRST_RETRY_MS = 500

/**
 * The issuer's signing keys: fetched at start-up, shared by every request, refreshed in the
 * background, and kept when the issuer fails (for a bounded time). A token naming an unknown kid
 * can cause at most one fetch per cooldown for the whole process, so a flood of made-up kids
 * costs a bounded number of fetches and no memory.
 */
export class KeySet {
  #keys = new Map<string, IssuerKey>()
  #loadedAt: number | undefined
  #lastError: string | undefined = 'the key set has not been fetched yet'
  #failures = 0
  #inFlight: Promise<void> | undefined
  #lastFetchAt = -Infinity
  #discoveredUri: string | undefined
  #refreshTimer: NodeJS.Timeout | undefined
  #expiryTimer: NodeJS.Timeout | undefined
  /** Aborts the fetch under way when the set closes. */
  #fetching: AbortController | undefined
  #closed = false
  #fetchObserver: KeySetFetchObserver | undefined
  readonly #options: KeySetOptions

  constructor (options: KeySetOptions) {
    this.#options = options
  }

  /** The first load. Never throws: a failure is logged, reported by status() and retried. */
  start (): Promise<void> {
    return this.refresh()
  }

  /** Stops every timer and the fetch under way: nothing keeps the process alive afterwards. */
  close (): void {
    this.#closed = true
    clearTimeout(this.#refreshTimer)
    clearTimeout(this.#expiryTimer)
    this.#fetching?.abort()
  }

  /** The key for a kid: synchronous when known, otherwise after at most one (shared) refetch. */
  get (kid: string): IssuerKey | Promise<IssuerKey> {
    return this.#keys.get(kid) ?? this.#getAfterRefetch(kid)
  }

  status (): KeySetStatus {
    const ready = this.#keys.size > 0
    const status: KeySetStatus = { ready, keys: this.#keys.size, stale: false }
    if (ready) {
      const age = Date.now() - (this.#loadedAt as number)
      status.ageSeconds = Math.floor(age / 1000)
      status.stale = age > this.#options.ttlMs
    }
    if (this.#lastError !== undefined) status.reason = this.#lastError
    return status
  }

  /**
   * Tells `observer` about every fetch that completes or fails (not one aborted by close()). Fetches
   * are rare, so this is off the request path; an observer that throws is logged and ignored.
   */
  onFetch (observer: KeySetFetchObserver): void {
    this.#fetchObserver = observer
  }

  /** Fetches the set now, sharing a fetch already under way. Never rejects. */
  refresh (): Promise<void> {
    this.#inFlight ??= this.#fetchAndReplace().finally(() => { this.#inFlight = undefined })
    return this.#inFlight
  }

  async #getAfterRefetch (kid: string): Promise<IssuerKey> {
    if (this.#inFlight === undefined && Date.now() - this.#lastFetchAt >= this.#options.cooldownMs) {
      void this.refresh()
    }
    await this.#inFlight
    const key = this.#keys.get(kid)
    if (key !== undefined) return key
    // With no trusted set, or while the issuer fails, the kid may be one we could not load yet.
    if (this.#keys.size === 0 || this.#lastError !== undefined) {
      const rejection = new KeysUnavailable()
      rejection.retryAfter = this.#secondsUntilNextFetch()
      throw rejection
    }
    throw new UnknownKey()
  }

  #secondsUntilNextFetch (): number {
    const wait = this.#lastFetchAt + this.#options.cooldownMs - Date.now()
    return Math.max(1, Math.ceil(wait / 1000))
  }

  async #fetchAndReplace (): Promise<void> {
    if (this.#closed) return
    this.#lastFetchAt = Date.now()
    clearTimeout(this.#refreshTimer)
    const { log, timeoutMs, maxBytes } = this.#options
    const fetching = new AbortController()
    this.#fetching = fetching
    // One deadline for the whole load: discovery and the key set share JWKS_TIMEOUT, so a request
    // waiting on a new key waits at most that long, not once per fetch.
    const limits = { timeoutMs, maxBytes, signal: fetching.signal, deadline: AbortSignal.timeout(timeoutMs) }
    const startedAt = performance.now()
    try {
      const uri = await this.#jwksUri(limits)
      const { keys, skipped } = parseKeySet(await fetchJson(uri, limits), this.#options.algorithms, this.#keys)
      if (skipped.length > 0) log.warn({ jwksUri: uri, skipped }, 'some keys in the issuer key set were ignored')
      const retired = [...this.#keys.values()].filter(old => keys.get(old.kid) !== old).map(old => old.kid)
      const changed = retired.length > 0 || keys.size !== this.#keys.size || this.#lastError !== undefined
      this.#keys = keys
      this.#loadedAt = Date.now()
      this.#lastError = undefined
      this.#failures = 0
      log[changed ? 'info' : 'debug']({ jwksUri: uri, kids: [...keys.keys()] }, 'issuer key set loaded')
      this.#schedule(this.#options.ttlMs * REFRESH_AT)
      this.#scheduleExpiry()
      this.#reportFetch(true, startedAt)
      // Last, once our own state is consistent: the callback is someone else's code.
      if (retired.length > 0) this.#options.onKeysRetired?.(retired)
    } catch (error) {
      // Closing aborted the fetch: nothing failed, and nothing is to be retried.
      if (this.#closed) return
      const reason = issuerProblem(error)
      this.#failures += 1
      this.#lastError = reason ?? 'unexpected error while loading the key set'
      this.#discoveredUri = undefined
      const { ready, ageSeconds } = this.status()
      log[reason === undefined ? 'error' : 'warn']({
        reason: this.#lastError,
        err: reason === undefined ? error : undefined,
        servingLastGoodSet: ready,
        ageSeconds
      }, ready
        ? 'could not refresh the issuer key set; still serving the last good set'
        : 'could not load the issuer key set; tokens cannot be verified until it loads')
      this.#reportFetch(false, startedAt)
      this.#schedule(Math.min(this.#options.cooldownMs, FIRST_RETRY_MS * 2 ** (this.#failures - 1)))
    }
  }

  #reportFetch (ok: boolean, startedAt: number): void {
    const observer = this.#fetchObserver
    if (observer === undefined) return
    try {
      observer({ ok, durationMs: performance.now() - startedAt })
    } catch (error) {
      // Watching must never change what the key set does.
      this.#options.log.error({ err: error }, 'the key set fetch observer failed')
    }
  }

  #schedule (delayMs: number): void {
    // One refresh timer at a time: a handle overwritten without clearing could never be cleared.
    clearTimeout(this.#refreshTimer)
    if (this.#closed) return
    this.#refreshTimer = setTimeout(() => { void this.refresh() }, delayMs).unref()
  }

  /** Past TTL plus the stale limit the set is dropped, and with it every token it verified. */
  #scheduleExpiry (): void {
    clearTimeout(this.#expiryTimer)
    if (this.#closed) return
    this.#expiryTimer = setTimeout(() => {
      const kids = [...this.#keys.keys()]
      this.#keys = new Map()
      this.#loadedAt = undefined
      // A refresh still under way has not failed yet, but readiness must say why it is not ready.
      this.#lastError ??= 'the key set passed its stale limit before it could be refreshed'
      this.#options.log.error({ reason: this.#lastError }, 'the issuer key set passed its stale limit and was dropped; tokens are refused until it loads')
      this.#options.onKeysRetired?.(kids)
    }, this.#options.ttlMs + this.#options.staleLimitMs).unref()
  }

  /** The configured key set URL, or the one discovery found (kept until a fetch fails). */
  async #jwksUri (limits: FetchLimits): Promise<string> {
    const { issuer, jwksUri } = this.#options
    if (jwksUri !== undefined) return jwksUri
    if (this.#discoveredUri !== undefined) return this.#discoveredUri
    const base = issuer.endsWith('/') ? issuer : `${issuer}/`
    let metadata: unknown
    try {
      metadata = await fetchJson(`${base}.well-known/openid-configuration`, limits)
    } catch (error) {
      // Issuers without OIDC discovery publish their keys at the conventional place.
      if (error instanceof IssuerFetchError && error.status === 404) {
        this.#discoveredUri = `${base}.well-known/jwks.json`
        return this.#discoveredUri
      }
      throw error
    }
    this.#discoveredUri = jwksUriFrom(metadata, issuer)
    return this.#discoveredUri
  }
}

/** A failure that is the issuer's doing, as opposed to a bug of ours. */
class IssuerProblem extends Error {}

/** Why the issuer let us down, or undefined when the failure is not the issuer's doing (a bug). */
function issuerProblem (error: unknown): string | undefined {
  const known = error instanceof IssuerFetchError || error instanceof KeySetFormatError || error instanceof IssuerProblem
  return known ? error.message : undefined
}

/** OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer we asked. */
function jwksUriFrom (metadata: unknown, issuer: string): string {
  const { issuer: named, jwks_uri: uri } = (metadata ?? {}) as { issuer?: unknown, jwks_uri?: unknown }
  if (named !== issuer) {
    throw new IssuerProblem(`the discovery document names issuer ${JSON.stringify(named)}, not the configured "${issuer}"`)
  }
  if (typeof uri !== 'string') throw new IssuerProblem('the discovery document has no jwks_uri')
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    throw new IssuerProblem('the discovery document\'s jwks_uri is not a URL')
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    throw new IssuerProblem('the discovery document\'s jwks_uri is not https')
  }
  return uri
}
