import { keyFilePath, keyFileVersion, readKeyFile, replaceKeyFile } from './key-file.js'
import { toKeySet, type KeySet } from './key-store.js'
import { generateSigningKey, type SigningKey } from './signing-key.js'

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
