import { randomBytes } from 'node:crypto'
import { link, mkdir, open, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { signingKeyFromPem, signingKeyToPem, type SigningKey } from './signing-key.js'

/**
 * The signing keys on disk: `<keyDir>/signing-keys.json`, mode 0600, oldest first.
 * The last key signs; every key in the file is published in the JWKS.
 */
export const KEY_FILE_NAME = 'signing-keys.json'

/** What identifies one written version of the file; every write replaces the inode. */
export interface FileVersion {
  readonly ino: number
  readonly mtimeMs: number
  readonly size: number
}

export interface KeyFileContents {
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

export async function readKeyFile (path: string): Promise<KeyFileContents> {
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
export async function keyFileVersion (path: string): Promise<FileVersion | undefined> {
  try {
    const { ino, mtimeMs, size } = await stat(path)
    return { ino, mtimeMs, size }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Replaces the file atomically: readers see the old keys or the new ones, never half a file. */
export async function replaceKeyFile (path: string, keys: readonly SigningKey[]): Promise<void> {
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
