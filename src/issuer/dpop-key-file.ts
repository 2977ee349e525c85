import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { link, mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DpopProofSigner } from '../dpop/proof-signer.js'

// The command line's DPoP key and its last DPoP token, next to the issuer's signing keys (the key
// directory, git-ignored): `token --dpop` makes the key once and saves each token it gets; the
// `dpop` command signs proofs with that key for that token.

const KEY_FILE = 'dpop-key.pem'
const TOKEN_FILE = 'dpop-token'

export const dpopKeyPath = (keyDir: string): string => join(keyDir, KEY_FILE)
export const lastDpopTokenPath = (keyDir: string): string => join(keyDir, TOKEN_FILE)

/** The saved key, or a new ES256 key saved first (mode 0600). Two commands at once agree on one. */
export async function loadOrCreateDpopKey (keyDir: string): Promise<DpopProofSigner> {
  const path = dpopKeyPath(keyDir)
  if (!await exists(path)) await createKeyFile(path)
  return await loadDpopKey(keyDir)
}

async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

async function createKeyFile (path: string): Promise<void> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  // A hard link fails on an existing name: the first key written stays, whoever wrote it.
  const temporary = await writeTemporary(path, pem)
  try {
    await link(temporary, path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  } finally {
    await unlink(temporary)
  }
}

/** The saved key; throws a line saying how to make one when there is none. */
export async function loadDpopKey (keyDir: string): Promise<DpopProofSigner> {
  const path = dpopKeyPath(keyDir)
  return new DpopProofSigner('ES256', es256Key(await readSaved(path, 'DPoP key'), path))
}

function es256Key (pem: string, path: string): KeyObject {
  let key: KeyObject | undefined
  try {
    key = createPrivateKey(pem)
  } catch {
    // Not a PEM key at all: the same answer as a key of another type.
  }
  if (key?.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`${path} is not a P-256 (ES256) private key: delete it, and get a new DPoP token with: npm run token -- --dpop`)
  }
  return key
}

/** Replaces the last token atomically (mode 0600): the dpop command reads a whole token or the one before. */
export async function saveLastDpopToken (keyDir: string, token: string): Promise<void> {
  const path = lastDpopTokenPath(keyDir)
  await rename(await writeTemporary(path, `${token}\n`), path)
}

export async function readLastDpopToken (keyDir: string): Promise<string> {
  return (await readSaved(lastDpopTokenPath(keyDir), 'DPoP token')).trim()
}

async function readSaved (path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new Error(`no ${what} in ${path}: get a DPoP token first with: npm run token -- --dpop`)
    throw new Error(`cannot read ${path} (${code})`)
  }
}

async function writeTemporary (path: string, text: string): Promise<string> {
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 })
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  // 'wx' creates a fresh file, so the mode applies even if a stale temporary file was left behind.
  await writeFile(temporary, text, { mode: 0o600, flag: 'wx' })
  return temporary
}
