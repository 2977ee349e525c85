import { setTimeout as sleep } from 'node:timers/promises'
import type { DpopProofSigner } from '../dpop/proof-signer.js'
import { discoverTokenEndpoint } from './discovery.js'
import { DpopSession, asksForNonce } from './dpop.js'
import { checkEndpointUrl } from './endpoint-url.js'
import { TokenClientError } from './errors.js'
import { retryDelay } from './retry-delay.js'
import { requestToken, type ClientAuthMethod, type ClientCredentials, type IssuedToken } from './token-endpoint.js'

// A client-credentials token client for a Node service calling an API protected by OAuth access
// tokens: one cached token per audience and scope, refreshed ahead of expiry in the background,
// one request in flight per audience and scope however many callers wait, bounded retries on 429
// and 5xx, and a fetch that sends the token, as Bearer or bound to a DPoP key with a proof per
// request. No Fastify, no dependency beyond Node 20.

export { DiscoveryError, IssuerUnreachableError, TokenClientError, TokenRequestError } from './errors.js'
export type { ClientAuthMethod } from './token-endpoint.js'

export interface TokenClientOptions {
  /** The issuer, e.g. `https://your-tenant.us.auth0.com/`: its token endpoint is read once from `<issuer>.well-known/openid-configuration`. */
  readonly issuer?: string
  /** The token endpoint itself, e.g. `https://your-tenant.us.auth0.com/oauth/token` (no discovery). One of the two is required. */
  readonly tokenEndpoint?: string
  readonly clientId: string
  readonly clientSecret: string
  /** `client_secret_post` (default, as Auth0's quickstart: in the form body) or `client_secret_basic` (HTTP Basic). */
  readonly authMethod?: ClientAuthMethod
  /** The audience and scope of calls that name none. */
  readonly audience?: string
  readonly scope?: string
  /** Milliseconds each request to the issuer (discovery, token) may take, headers and body. Default 10,000. */
  readonly timeoutMs?: number
  /** How many times a token request answered 429 or 5xx is repeated. Default 2. */
  readonly maxRetries?: number
  /** The longest wait before a repeat; a Retry-After asking for longer fails the request at once. Default 10,000 ms. */
  readonly maxRetryDelayMs?: number
  /** The clock, in milliseconds since the epoch (tests move it). Default `Date.now`. */
  readonly now?: () => number
  /**
   * A DPoP key (RFC 9449): token requests carry a proof signed by it and only DPoP-bound tokens
   * are taken; fetch() sends `Authorization: DPoP <token>` with a fresh proof each time.
   */
  readonly dpop?: DpopProofSigner
}

/** Which token: the audience (the API identifier) and the scopes, space separated, in any order. */
export interface TokenRequest {
  readonly audience?: string
  readonly scope?: string
}

export interface AccessToken {
  readonly accessToken: string
  /** `DPoP` when the client has a DPoP key (the token is bound to it), else `Bearer`. */
  readonly tokenType: 'Bearer' | 'DPoP'
  /** When it expires (epoch ms): the request's start plus `expires_in`. */
  readonly expiresAt: number
  /** From when calls start getting its successor in the background (epoch ms). */
  readonly refreshAt: number
  /** The scope granted, when the issuer said. */
  readonly scope: string | undefined
}

/** The cache entry of one audience and scope. */
interface Slot {
  token: AccessToken | undefined
  /** The token request in flight: every caller who needs it waits for this one. */
  pending: Promise<AccessToken> | undefined
  /** After a failed refresh, no background refresh before this time. */
  quietUntil: number
  failures: number
}

const DEFAULT_TIMEOUT_MS = 10_000
const DEFAULT_MAX_RETRIES = 2
const DEFAULT_MAX_RETRY_DELAY_MS = 10_000
/** Refresh at 80% of the lifetime or 60 s before expiry, whichever is earlier, but not before half of it. */
const REFRESH_RATIO = 0.8
const REFRESH_MARGIN_MS = 60_000
/** After failed background refreshes: 1 s, 2 s, 4 s, ... up to a minute (or the issuer's Retry-After). */
const MAX_QUIET_MS = 60_000

/** Milliseconds after its request that a token with `lifetime` ms to live is refreshed. */
export function refreshAfter (lifetime: number): number {
  return Math.max(lifetime / 2, Math.min(lifetime * REFRESH_RATIO, lifetime - REFRESH_MARGIN_MS))
}

export class TokenClient {
  readonly #credentials: ClientCredentials
  readonly #issuer: string | undefined
  readonly #defaults: TokenRequest
  readonly #timeoutMs: number
  readonly #maxRetries: number
  readonly #maxRetryDelayMs: number
  readonly #now: () => number
  readonly #dpop: DpopSession | undefined
  #endpoint: Promise<string> | undefined
  readonly #slots = new Map<string, Slot>()
  /** Which slot handed out a token, so invalidate() needs only the token. */
  readonly #owners = new WeakMap<AccessToken, Slot>()

  constructor (options: TokenClientOptions) {
    if (options.clientId === '' || options.clientSecret === '') throw new TokenClientError('clientId and clientSecret are required')
    if (options.tokenEndpoint !== undefined) {
      this.#endpoint = Promise.resolve(checkEndpointUrl('tokenEndpoint', options.tokenEndpoint))
    } else if (options.issuer !== undefined) {
      this.#issuer = checkEndpointUrl('issuer', options.issuer)
    } else {
      throw new TokenClientError('issuer or tokenEndpoint is required')
    }
    this.#credentials = { clientId: options.clientId, clientSecret: options.clientSecret, authMethod: options.authMethod ?? 'client_secret_post' }
    this.#defaults = { audience: options.audience, scope: options.scope }
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.#maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES
    this.#maxRetryDelayMs = options.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS
    this.#now = options.now ?? Date.now
    this.#dpop = options.dpop === undefined ? undefined : new DpopSession(options.dpop)
  }

  /**
   * A valid token for the audience and scope: the cached one until it expires (past its refresh
   * point a successor is requested in the background meanwhile), else the one request in flight.
   * Throws a TokenClientError only when there is no valid token to give.
   */
  async getToken (request: TokenRequest = {}): Promise<AccessToken> {
    const audience = request.audience ?? this.#defaults.audience
    const scope = normalizeScope(request.scope ?? this.#defaults.scope)
    const key = JSON.stringify([audience, scope])
    let slot = this.#slots.get(key)
    if (slot === undefined) {
      slot = { token: undefined, pending: undefined, quietUntil: 0, failures: 0 }
      this.#slots.set(key, slot)
    }
    const now = this.#now()
    const { token } = slot
    if (token !== undefined && now < token.expiresAt) {
      if (now >= token.refreshAt && slot.pending === undefined && now >= slot.quietUntil) {
        // Failures are the slot's business (quietUntil); callers keep the cached token.
        this.#refresh(slot, audience, scope).catch(() => {})
      }
      return token
    }
    return await (slot.pending ?? this.#refresh(slot, audience, scope))
  }

  /**
   * Forgets `token` if it is still the cached one, say after the API answered 401 to it; the next
   * call gets a new one. Calls with an older token change nothing, so many callers refused at once
   * cause one new token request.
   */
  invalidate (token: AccessToken): void {
    const slot = this.#owners.get(token)
    if (slot?.token === token) slot.token = undefined
  }

  /**
   * fetch() with `Authorization: Bearer <token>` for the audience and scope, or with a DPoP key
   * `Authorization: DPoP <token>` and a `DPoP` proof for this method and URL. On a 401 the token is
   * invalidated and the request sent once more with a new one; a second 401 is returned as it is.
   * A 401 asking for a DPoP nonce is answered once with a proof carrying it, with the same token.
   * A stream body cannot be sent twice: its 401 is returned without a retry.
   */
  async fetch (url: string | URL, init: RequestInit = {}, request: TokenRequest = {}): Promise<Response> {
    const token = await this.getToken(request)
    const response = await this.#send(url, init, token)
    if (response.status !== 401 || isStream(init.body) || asksForNonce(response)) return response
    await response.body?.cancel()
    this.invalidate(token)
    return await this.#send(url, init, await this.getToken(request))
  }

  /** One call with the token, and with DPoP once more if the API asked for its nonce and gave one. */
  async #send (url: string | URL, init: RequestInit, token: AccessToken): Promise<Response> {
    const { response, nonce } = await this.#call(url, init, token)
    if (!nonce || !asksForNonce(response) || isStream(init.body)) return response
    await response.body?.cancel()
    return (await this.#call(url, init, token)).response
  }

  /** fetch() with the token; `nonce` says the answer carried a DPoP-Nonce, kept for the next proofs. */
  async #call (url: string | URL, init: RequestInit, token: AccessToken): Promise<{ response: Response, nonce: boolean }> {
    const headers = new Headers(init.headers)
    headers.set('authorization', `${token.tokenType} ${token.accessToken}`)
    if (this.#dpop !== undefined) headers.set('dpop', this.#dpop.proof(init.method, url, token.accessToken))
    const response = await fetch(url, { ...init, headers })
    return { response, nonce: this.#dpop?.remember(url, response.headers) === true }
  }

  /** Requests a token for the slot, as the slot's one request in flight. */
  #refresh (slot: Slot, audience: string | undefined, scope: string | undefined): Promise<AccessToken> {
    const pending = this.#requestWithRetries(audience, scope).then(token => {
      slot.token = token
      slot.failures = 0
      this.#owners.set(token, slot)
      return token
    }, (error: unknown) => {
      slot.failures++
      const quiet = Math.min(MAX_QUIET_MS, 1000 * 2 ** (slot.failures - 1))
      slot.quietUntil = this.#now() + Math.max(quiet, (error as { retryAfterMs?: number }).retryAfterMs ?? 0)
      throw error
    }).finally(() => { slot.pending = undefined })
    slot.pending = pending
    return pending
  }

  /** One token request, repeated after a wait while retryDelay() allows and maxRetries lasts. */
  async #requestWithRetries (audience: string | undefined, scope: string | undefined, attempt = 0): Promise<AccessToken> {
    const endpoint = await this.#tokenEndpoint()
    const started = this.#now()
    try {
      return toAccessToken(await requestToken(endpoint, this.#credentials, { audience, scope }, this.#timeoutMs, this.#now, this.#dpop), started)
    } catch (error) {
      const delay = retryDelay(error, attempt)
      if (delay === undefined || attempt >= this.#maxRetries || delay > this.#maxRetryDelayMs) throw error
      await sleep(delay)
      return await this.#requestWithRetries(audience, scope, attempt + 1)
    }
  }

  /** The configured endpoint, or the discovered one: discovered once, again only after a failure. */
  async #tokenEndpoint (): Promise<string> {
    if (this.#endpoint === undefined) {
      const discovery = discoverTokenEndpoint(this.#issuer as string, this.#timeoutMs)
      this.#endpoint = discovery
      discovery.catch(() => { this.#endpoint = undefined })
    }
    return await this.#endpoint
  }
}

function toAccessToken ({ accessToken, tokenType, expiresIn, scope }: IssuedToken, started: number): AccessToken {
  const lifetime = expiresIn * 1000
  return { accessToken, tokenType, scope, expiresAt: started + lifetime, refreshAt: started + refreshAfter(lifetime) }
}

/** Scopes in a stable order, so `a b` and `b a` share one token; undefined for none. */
function normalizeScope (scope: string | undefined): string | undefined {
  const scopes = [...new Set(scope?.split(/\s+/).filter(word => word !== ''))].sort()
  return scopes.length === 0 ? undefined : scopes.join(' ')
}

function isStream (body: RequestInit['body']): boolean {
  return typeof body === 'object' && body !== null && Symbol.asyncIterator in body
}
