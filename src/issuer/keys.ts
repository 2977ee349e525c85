import { createPrivateKey, createPublicKey, generateKeyPair, randomBytes, type KeyObject } from 'node:crypto'
import { link, mkdir, open, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { FastifyBaseLogger } from 'fastify'
import { jwkThumbprint } from '../dpop/jwk-thumbprint.js'

// The issuer's RSA signing keys: generated here, kept in one file in the key directory, re-read by
// the running issuer whenever that file changes, rotated and retired by hand from another process.

export interface PublicJwk {
  readonly kty: 'RSA'
  readonly n: string
  readonly e: string
  readonly kid: string
  readonly alg: 'RS256'
  readonly use: 'sig'
}

export interface SigningKey {
  readonly kid: string
  readonly createdAt: string
  readonly privateKey: KeyObject
  readonly publicJwk: PublicJwk
}

const generateRsaKeyPair = promisify(generateKeyPair)

export async function generateSigningKey (now: Date = new Date()): Promise<SigningKey> {
  const { privateKey } = await generateRsaKeyPair('rsa', { modulusLength: 2048 })
  return toSigningKey(privateKey, now.toISOString())
}

/** Throws a plain reason (the caller adds the file and field) when the PEM is not an RSA private key. */
function signingKeyFromPem (pem: string, createdAt: string): SigningKey {
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(pem)
  } catch {
    throw new Error('is not a PEM private key')
  }
  if (privateKey.asymmetricKeyType !== 'rsa') throw new Error(`is a ${privateKey.asymmetricKeyType} key, not RSA`)
  return toSigningKey(privateKey, createdAt)
}

function signingKeyToPem (key: SigningKey): string {
  return key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
}

function toSigningKey (privateKey: KeyObject, createdAt: string): SigningKey {
  const { n, e } = createPublicKey(privateKey).export({ format: 'jwk' }) as { n: string, e: string }
  // RFC 7638: a kid derived from the key itself, so it never collides or drifts from the key.
  const kid = jwkThumbprint({ kty: 'RSA', n, e }) as string
  return { kid, createdAt, privateKey, publicJwk: { kty: 'RSA', n, e, kid, alg: 'RS256', use: 'sig' } }
}


/**
 * The signing keys on disk: `<keyDir>/signing-keys.json`, mode 0600, oldest first.
 * The last key signs; every key in the file is published in the JWKS.
 */
const KEY_FILE_NAME = 'signing-keys.json'

/** What identifies one written version of the file; every write replaces the inode. */
interface FileVersion {
  readonly ino: number
  readonly mtimeMs: number
  readonly size: number
}

interface KeyFileContents {
  readonly keys: readonly SigningKey[]
  readonly version: FileVersion
}

interface StoredKey {
  createdAt: string
  privateKeyPem: string
}

export function keyFilePath (keyDir: string): string {
  return join(keyDir, KEY_FILE_NAME)
}

async function readKeyFile (path: string): Promise<KeyFileContents> {
  // One open file for stat and read, so the version always describes the contents read.
  const handle = await open(path, 'r')
  try {
    const { ino, mtimeMs, size } = await handle.stat()
    const keys = parseKeyFile(await handle.readFile('utf8'), path)
    return { keys, version: { ino, mtimeMs, size } }
  } finally {
    await handle.close()
  }
}

/** The file's current version, or undefined when it does not exist. */
async function keyFileVersion (path: string): Promise<FileVersion | undefined> {
  try {
    const { ino, mtimeMs, size } = await stat(path)
    return { ino, mtimeMs, size }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Replaces the file atomically: readers see the old keys or the new ones, never half a file. */
async function replaceKeyFile (path: string, keys: readonly SigningKey[]): Promise<void> {
  const temporary = await writeTemporary(path, keys)
  await rename(temporary, path)
}

/**
 * Writes the file only if none exists (a hard link fails on an existing name), so two processes
 * starting at once agree on one key. Returns false when another process won.
 */
export async function createKeyFile (path: string, keys: readonly SigningKey[]): Promise<boolean> {
  const temporary = await writeTemporary(path, keys)
  let created = false
  try {
    await link(temporary, path)
    created = true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  } finally {
    await unlink(temporary)
  }
  return created
}

async function writeTemporary (path: string, keys: readonly SigningKey[]): Promise<string> {
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 })
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const stored: StoredKey[] = keys.map(key => ({ createdAt: key.createdAt, privateKeyPem: signingKeyToPem(key) }))
  const text = JSON.stringify({
    $comment: 'Signing keys of the local development issuer: the last one signs, all are published. Never commit.',
    keys: stored
  }, null, 2)
  // 'wx' creates a fresh file, so the mode applies even if a stale temporary file was left behind.
  await writeFile(temporary, text + '\n', { mode: 0o600, flag: 'wx' })
  return temporary
}

function parseKeyFile (text: string, path: string): SigningKey[] {
  const fail = (problem: string): never => {
    throw new Error(`Invalid key file ${path}: ${problem} (delete it to start over with a new key)`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    fail('not JSON')
  }
  const keys = (json as { keys?: unknown } | null)?.keys
  if (!Array.isArray(keys) || keys.length === 0) fail('"keys" must be a non-empty array')
  return (keys as unknown[]).map((entry, i) => {
    const { createdAt, privateKeyPem } = (entry ?? {}) as Partial<Record<keyof StoredKey, unknown>>
    if (typeof createdAt !== 'string' || typeof privateKeyPem !== 'string') {
      fail(`keys[${i}] must have string fields createdAt and privateKeyPem`)
    }
    try {
      return signingKeyFromPem(privateKeyPem as string, createdAt as string)
    } catch (err) {
      return fail(`keys[${i}].privateKeyPem ${(err as Error).message}`)
    }
  })
}

export interface KeySet {
  /** Signs new tokens: the newest key in the file. */
  readonly signing: SigningKey
  /** Every key a verifier may still meet, the signing key included. */
  readonly published: readonly SigningKey[]
}

function toKeySet (keys: readonly SigningKey[]): KeySet {
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

/**
 * The two steps of a key rotation, run by hand against the key directory while the issuer runs:
 * `rotate` publishes a new signing key next to the old ones (tokens already issued stay valid),
 * `retire` later drops every key except the signing one (tokens signed by them stop verifying).
 */
export async function rotateSigningKey (keyDir: string): Promise<KeySet> {
  const path = keyFilePath(keyDir)
  const existing = await keyFileVersion(path) === undefined ? [] : (await readKeyFile(path)).keys
  const rotated = [...existing, await generateSigningKey()]
  await replaceKeyFile(path, rotated)
  return toKeySet(rotated)
}

export async function retireOldKeys (keyDir: string): Promise<{ retired: readonly SigningKey[], keys: KeySet }> {
  const path = keyFilePath(keyDir)
  const { keys } = await readKeyFile(path)
  const { signing } = toKeySet(keys)
  const retired = keys.filter(key => key !== signing)
  if (retired.length > 0) await replaceKeyFile(path, [signing])
  return { retired, keys: toKeySet([signing]) }
}
