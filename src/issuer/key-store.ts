import type { FastifyBaseLogger } from 'fastify'
import { createKeyFile, keyFilePath, keyFileVersion, readKeyFile, type FileVersion } from './key-file.js'
import { generateSigningKey, type SigningKey } from './signing-key.js'

export interface KeySet {
  /** Signs new tokens: the newest key in the file. */
  readonly signing: SigningKey
  /** Every key a verifier may still meet, the signing key included. */
  readonly published: readonly SigningKey[]
}

export function toKeySet (keys: readonly SigningKey[]): KeySet {
  return { signing: keys[keys.length - 1] as SigningKey, published: keys }
}

type KeyStoreLogger = Pick<FastifyBaseLogger, 'info'>

/**
 * The running issuer's view of the key file. Each lookup stats the file and re-reads it when it
 * changed, so `rotate` and `retire`, run from another process, take effect without a restart.
 */
export class KeyStore {
  readonly path: string
  readonly #log: KeyStoreLogger
  #loaded: { version: FileVersion, keySet: KeySet } | undefined
  #pending: Promise<KeySet> | undefined

  private constructor (path: string, log: KeyStoreLogger) {
    this.path = path
    this.#log = log
  }

  /** Opens the store, generating and saving the first key when the file does not exist yet. */
  static async open (keyDir: string, log: KeyStoreLogger): Promise<KeyStore> {
    const store = new KeyStore(keyFilePath(keyDir), log)
    await store.current()
    return store
  }

  current (): Promise<KeySet> {
    // Concurrent requests share one check, so a missing file is regenerated once, not per request.
    this.#pending ??= this.#refresh().finally(() => { this.#pending = undefined })
    return this.#pending
  }

  async #refresh (): Promise<KeySet> {
    const version = await keyFileVersion(this.path)
    if (version === undefined) {
      const key = await generateSigningKey()
      if (await createKeyFile(this.path, [key])) {
        this.#log.info({ kid: key.kid, file: this.path }, 'generated a new RSA signing key')
      }
    } else if (this.#loaded !== undefined && sameVersion(version, this.#loaded.version)) {
      return this.#loaded.keySet
    }
    const { keys, version: readVersion } = await readKeyFile(this.path)
    const keySet = toKeySet(keys)
    if (this.#loaded !== undefined) {
      this.#log.info({ signingKid: keySet.signing.kid, publishedKids: keys.map(key => key.kid) }, 'key file changed: reloaded the signing keys')
    }
    this.#loaded = { version: readVersion, keySet }
    return keySet
  }
}

function sameVersion (a: FileVersion, b: FileVersion): boolean {
  return a.ino === b.ino && a.mtimeMs === b.mtimeMs && a.size === b.size
}
