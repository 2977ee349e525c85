import { createHash, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'

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
export function signingKeyFromPem (pem: string, createdAt: string): SigningKey {
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(pem)
  } catch {
    throw new Error('is not a PEM private key')
  }
  if (privateKey.asymmetricKeyType !== 'rsa') throw new Error(`is a ${privateKey.asymmetricKeyType} key, not RSA`)
  return toSigningKey(privateKey, createdAt)
}

export function signingKeyToPem (key: SigningKey): string {
  return key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
}

function toSigningKey (privateKey: KeyObject, createdAt: string): SigningKey {
  const { n, e } = createPublicKey(privateKey).export({ format: 'jwk' }) as { n: string, e: string }
  const kid = jwkThumbprint(n, e)
  return { kid, createdAt, privateKey, publicJwk: { kty: 'RSA', n, e, kid, alg: 'RS256', use: 'sig' } }
}

/** RFC 7638 thumbprint: a kid derived from the key itself, so it never collides or drifts from the key. */
function jwkThumbprint (n: string, e: string): string {
  const canonical = JSON.stringify({ e, kty: 'RSA', n })
  return createHash('sha256').update(canonical).digest('base64url')
}
