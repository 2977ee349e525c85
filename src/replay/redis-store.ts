import { Redis } from 'ioredis'
import { ReplayStoreUnavailable, type ReplayStore, type ReplayStoreHealth } from './replay-store.js'

/** The part of a pino logger the store uses; a Fastify or pino logger fits. */
export interface ReplayStoreLog {
  warn: (details: object, message: string) => void
  info: (details: object, message: string) => void
}

export interface RedisReplayStoreOptions {
  /** redis:// or rediss:// URL, credentials included; only its host and port ever reach a log. */
  url: string
  /** Put before every key, so the proofs share a Redis with other data safely. */
  prefix?: string
  /** How long a command may take before the claim is refused: a request never waits on Redis longer. */
  commandTimeoutMs?: number
  log?: ReplayStoreLog
}

export const DEFAULT_PREFIX = 'dpop:jti:'
export const DEFAULT_COMMAND_TIMEOUT_MS = 500
const CONNECT_TIMEOUT_MS = 2000
/** Reconnection backoff doubles from 100 ms up to this, so a returning Redis is noticed within a second. */
const MAX_RECONNECT_DELAY_MS = 1000

/** Host and port of a Redis URL: what logs and readiness may say about it (never credentials). */
export function redisAddress (url: string): string {
  const { hostname, port } = new URL(url)
  return `${hostname}:${port === '' ? '6379' : port}`
}

/**
 * The replay store shared by replicas: `SET key 1 EX ttl NX` in one Redis, atomic across every
 * connection. It fails fast rather than queueing: no offline queue, no command retries, a timeout
 * on every command; a claim that cannot be answered now is refused (503), never left hanging.
 *
 * Start-up: the store starts connecting when constructed and keeps reconnecting by itself, with
 * capped backoff, for as long as it is open. Nothing waits for Redis; `waitUntilConnected`
 * lets start-up give it a moment, and `health()` says why it is not ready meanwhile.
 */
export class RedisReplayStore implements ReplayStore {
  readonly kind = 'redis'
  /** host:port, for logs and readiness. */
  readonly address: string
  readonly #client: Redis
  readonly #prefix: string
  readonly #commandTimeoutMs: number
  readonly #log: ReplayStoreLog | undefined
  readonly #password: string
  #state: 'starting' | 'up' | 'down' = 'starting'
  /** Why the connection was last lost or refused, redacted. */
  #cause: string | undefined
  /** A command timed out on a live connection: Redis may be hung. Cleared by the next answer. */
  #stalled = false
  #probing = false
  #closed = false

  constructor ({ url, prefix = DEFAULT_PREFIX, commandTimeoutMs = DEFAULT_COMMAND_TIMEOUT_MS, log }: RedisReplayStoreOptions) {
    this.address = redisAddress(url)
    this.#password = decodeURIComponent(new URL(url).password)
    this.#prefix = prefix
    this.#commandTimeoutMs = commandTimeoutMs
    this.#log = log
    this.#client = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: commandTimeoutMs,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: attempt => Math.min(100 * 2 ** (attempt - 1), MAX_RECONNECT_DELAY_MS)
    })
    this.#client.on('ready', () => { this.#onReady() })
    // Without an 'error' listener ioredis prints every failed reconnection to stderr.
    this.#client.on('error', (error: Error) => { this.#onError(error) })
    this.#client.on('close', () => { this.#onClose() })
  }

  async claimOnce (key: string, ttlSeconds: number): Promise<boolean> {
    if (!(ttlSeconds > 0 && Number.isFinite(ttlSeconds))) throw new RangeError(`ttlSeconds must be a positive number, not ${ttlSeconds}`)
    // Not connected: refuse at once (with the offline queue off, ioredis would too, less clearly).
    const notConnected = this.#notConnectedReason()
    if (notConnected !== undefined) throw new ReplayStoreUnavailable(notConnected)
    let reply: string | null
    try {
      // Whole seconds, rounded up: a proof is remembered at least as long as asked.
      reply = await this.#client.set(this.#prefix + key, '1', 'EX', Math.ceil(ttlSeconds), 'NX')
    } catch (error) {
      throw new ReplayStoreUnavailable(this.#failure(error as Error))
    }
    this.#stalled = false
    return reply === 'OK'
  }

  health (): ReplayStoreHealth {
    const notConnected = this.#notConnectedReason()
    if (notConnected !== undefined) return { ready: false, reason: notConnected }
    if (this.#stalled) {
      this.#probe()
      return { ready: false, reason: `redis at ${this.address} did not answer within ${this.#commandTimeoutMs} ms` }
    }
    return { ready: true }
  }

  /** Resolves true once connected, false when `timeoutMs` passes first; never rejects. */
  async waitUntilConnected (timeoutMs: number): Promise<boolean> {
    if (this.#closed) return false
    if (this.#client.status === 'ready') return true
    return await new Promise(resolve => {
      const settle = (connected: boolean): void => {
        clearTimeout(timer)
        this.#client.off('ready', onReady)
        resolve(connected)
      }
      const onReady = (): void => { settle(true) }
      const timer = setTimeout(settle, timeoutMs, false)
      this.#client.on('ready', onReady)
    })
  }

  /** Quits cleanly when connected (replies in flight arrive first), else just stops reconnecting. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#client.status === 'ready') {
      try {
        await this.#client.quit()
        return
      } catch {
        // A hung Redis does not answer QUIT either: drop the connection.
      }
    }
    this.#client.disconnect()
  }

  #notConnectedReason (): string | undefined {
    if (this.#closed) return 'the Redis replay store is closed'
    if (this.#client.status === 'ready') return undefined
    return this.#cause === undefined
      ? `redis at ${this.address} is not connected yet`
      : `redis at ${this.address} is unreachable (${this.#cause})`
  }

  #onReady (): void {
    this.#cause = undefined
    this.#stalled = false
    const previous = this.#state
    this.#state = 'up'
    const message = previous === 'down' ? 'replay store: redis is reachable again' : 'replay store: connected to redis'
    this.#log?.info({ redis: this.address }, message)
  }

  #onError (error: Error): void {
    this.#cause = this.#describe(error)
    // A socket error on a live connection is followed by 'close', which marks the loss.
    if (this.#client.status !== 'ready') this.#markDown(this.#cause)
  }

  #onClose (): void {
    this.#cause ??= 'connection closed'
    this.#markDown(this.#cause)
  }

  /** Logs the loss once, not on every failed reconnection. */
  #markDown (cause: string): void {
    if (this.#closed || this.#state === 'down') return
    this.#state = 'down'
    this.#log?.warn(
      { redis: this.address, reason: cause },
      `replay store: redis at ${this.address} is unreachable (${cause}); DPoP proofs are refused with 503 until it is back`
    )
  }

  #failure (error: Error): string {
    if (error.message === 'Command timed out') {
      this.#stalled = true
      return `redis at ${this.address} did not answer within ${this.#commandTimeoutMs} ms`
    }
    return `redis at ${this.address} could not record the proof (${this.#describe(error)})`
  }

  /** While stalled, one PING at a time tells readiness when Redis answers again. */
  #probe (): void {
    if (this.#probing) return
    this.#probing = true
    this.#client.ping().then(
      () => { this.#stalled = false },
      () => {}
    ).finally(() => { this.#probing = false })
  }

  /** An error's code or message, with the password cut out should any message ever echo it. */
  #describe (error: Error): string {
    const text = (error as NodeJS.ErrnoException).code ?? error.message
    return this.#password === '' ? text : text.replaceAll(this.#password, '***')
  }
}
