import { randomBytes, scrypt, timingSafeEqual, type BinaryLike, type ScryptOptions } from 'node:crypto'
import { promisify } from 'node:util'
import { OAuthError } from './oauth-error.js'

/**
 * Client secrets and user passwords are stored as scrypt hashes in one self-describing string,
 * `scrypt$N=16384,r=8,p=1$<salt>$<hash>` (salt and hash base64url), so the cost can be raised
 * later without breaking hashes already written.
 */
export interface SecretHash {
  readonly cost: number
  readonly blockSize: number
  readonly parallelization: number
  readonly salt: Buffer
  readonly hash: Buffer
}

export interface ScryptParams {
  cost: number
  blockSize: number
  parallelization: number
}

/** scrypt's recommended interactive-login parameters: about 50 ms and 16 MiB per check. */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { cost: 16384, blockSize: 8, parallelization: 1 }

const SALT_BYTES = 16
const HASH_BYTES = 32
/** scrypt holds 128 * N * r bytes: 256 MiB at most, 16 times the default. */
const MAX_COST_TIMES_BLOCK = 2 ** 21
/** N * r * p: 32 times the default's work (the default is about 50 ms). */
const MAX_WORK = 2 ** 22
const FORMAT = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{43,})$/

/** Parses a stored hash; returns a reason instead of throwing so the config loader can name the field. */
export function parseSecretHash (text: string): SecretHash | string {
  const match = FORMAT.exec(text)
  if (match === null) {
    return 'must look like scrypt$N=16384,r=8,p=1$<salt>$<hash> (make one with the hash-secret command)'
  }
  const [, n, r, p, salt, hash] = match as unknown as [string, string, string, string, string, string]
  const params = { cost: Number(n), blockSize: Number(r), parallelization: Number(p) }
  // Bounds keep a typo from making every login take minutes or gigabytes.
  if (!isPowerOfTwo(params.cost) || params.cost < 1024 || params.cost > 1048576) {
    return 'has N outside the powers of two from 1024 to 1048576'
  }
  if (params.blockSize < 1 || params.blockSize > 32 || params.parallelization < 1 || params.parallelization > 16) {
    return 'has r outside 1..32 or p outside 1..16'
  }
  // Each bound alone still allowed N=2^20 with r=32: 4 GiB and minutes for every check.
  if (params.cost * params.blockSize > MAX_COST_TIMES_BLOCK || params.cost * params.blockSize * params.parallelization > MAX_WORK) {
    return 'asks for more than 256 MiB or 32 times the default work per check (lower N, r or p)'
  }
  return { ...params, salt: Buffer.from(salt, 'base64url'), hash: Buffer.from(hash, 'base64url') }
}

/**
 * Checked when the client or user does not exist, so an unknown name costs the same scrypt as a
 * wrong secret and timing does not reveal which names exist. Random: no secret matches it.
 */
export const UNMATCHABLE_HASH: SecretHash = { ...DEFAULT_SCRYPT_PARAMS, salt: randomBytes(SALT_BYTES), hash: randomBytes(HASH_BYTES) }

export async function hashSecret (secret: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const hash = await derive(secret, salt, HASH_BYTES, params)
  return `scrypt$N=${params.cost},r=${params.blockSize},p=${params.parallelization}$${salt.toString('base64url')}$${hash.toString('base64url')}`
}

/**
 * A few slots for expensive checks, and a bounded queue for the rest. scrypt runs on libuv's
 * thread pool (4 threads), which file reads and the API's own work share: unbounded, a flood of
 * token requests with made-up credentials (each costing a full scrypt, on purpose) queued there
 * and stalled the issuer's key set endpoint for seconds, past the API's key fetch timeout.
 */
export class CheckSlots {
  readonly #slots: number
  readonly #maxWaiting: number
  #running = 0
  readonly #waiting: Array<() => void> = []

  constructor (slots: number, maxWaiting: number) {
    this.#slots = slots
    this.#maxWaiting = maxWaiting
  }

  /** Runs `check` in a slot, after those waiting before it; undefined at once when the queue is full. */
  async run<T> (check: () => Promise<T>): Promise<T | undefined> {
    if (this.#running < this.#slots) this.#running++
    else if (this.#waiting.length < this.#maxWaiting) await new Promise<void>(resolve => { this.#waiting.push(resolve) })
    else return undefined
    try {
      return await check()
    } finally {
      // The slot passes straight to the next in line, so a newcomer can never jump the queue.
      const next = this.#waiting.shift()
      if (next === undefined) this.#running--
      else next()
    }
  }
}

/** Two of the thread pool's four threads at most, and a second's worth of checks waiting. */
const secretChecks = new CheckSlots(2, 64)

/**
 * Constant-time comparison, so response timing says nothing about how close a guess was. Refused
 * with temporarily_unavailable when too many checks already wait.
 */
export async function verifySecret (secret: string, stored: SecretHash): Promise<boolean> {
  const candidate = await secretChecks.run(async () => await derive(secret, stored.salt, stored.hash.length, stored))
  if (candidate === undefined) throw new OAuthError('temporarily_unavailable', 'too many token requests at once: retry in a second')
  return timingSafeEqual(candidate, stored.hash)
}

function derive (secret: string, salt: Buffer, length: number, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = {
    N: params.cost,
    r: params.blockSize,
    p: params.parallelization,
    // Node's default 32 MiB cap is below what the upper bounds above need.
    maxmem: 256 * params.cost * params.blockSize * params.parallelization
  }
  return scryptAsync(secret, salt, length, options)
}

const scryptAsync = promisify(scrypt) as (password: BinaryLike, salt: BinaryLike, keylen: number, options: ScryptOptions) => Promise<Buffer>

function isPowerOfTwo (n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0
}
