import { createHmac } from 'node:crypto'

/** How long a nonce is current; the one before stays valid, so a nonce lives one to two windows. */
const WINDOW_MS = 60_000
const MAC_BYTES = 16

/**
 * Server-provided DPoP nonces (RFC 9449 section 9): a nonce names a time window and carries an
 * HMAC of it, so any replica holding the same secret checks it without shared state. A proof
 * signed before the client saw a current nonce is refused, which bounds how long a proof made in
 * advance (on a compromised client) stays usable.
 */
export class DpopNonces {
  readonly #secret: string
  readonly #now: () => number
  #window = -1
  #current = ''

  constructor (secret: string, now: () => number = Date.now) {
    this.#secret = secret
    this.#now = now
  }

  /** The nonce to hand out now (a DPoP-Nonce header). */
  current (): string {
    const window = Math.floor(this.#now() / WINDOW_MS)
    if (window !== this.#window) {
      this.#window = window
      this.#current = this.#nonceFor(window)
    }
    return this.#current
  }

  /** Whether a proof's nonce is the current one or the one before. */
  accepts (nonce: string | undefined): boolean {
    // Nonces are handed to anyone who asks: comparing them needs no constant time.
    return nonce !== undefined && (nonce === this.current() || nonce === this.#nonceFor(this.#window - 1))
  }

  #nonceFor (window: number): string {
    const label = Buffer.alloc(6)
    label.writeUIntBE(window, 0, 6)
    const mac = createHmac('sha256', this.#secret).update(label).digest().subarray(0, MAC_BYTES)
    return Buffer.concat([label, mac]).toString('base64url')
  }
}
