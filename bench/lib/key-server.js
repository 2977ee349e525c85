import { generateKeyPairSync, randomUUID, sign } from 'node:crypto'
import { createServer } from 'node:http'

/** The audience every benchmark token carries and every target is configured with. */
export const AUDIENCE = 'https://bench.api.test'

/** A day, Auth0's default for machine-to-machine tokens, and longer than any run. */
export const TOKEN_TTL_SECONDS = 86400

/**
 * A minimal issuer on 127.0.0.1: OIDC discovery and a JWKS with one RSA key, plus a signer.
 * Tokens are signed with node:crypto directly (RS256 is RSASSA-PKCS1-v1_5 over SHA-256), so the
 * benchmark does not depend on any JWT library it is measuring.
 */
export async function startKeyServer () {
  const kid = randomUUID()
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  // A second key under the same kid: its signatures look right but never verify.
  const { privateKey: forgingKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] })

  let issuer = ''
  const server = createServer((request, response) => {
    if (request.url === '/.well-known/openid-configuration') {
      const discovery = JSON.stringify({ issuer, jwks_uri: `${issuer}.well-known/jwks.json` })
      response.writeHead(200, { 'content-type': 'application/json' }).end(discovery)
    } else if (request.url === '/.well-known/jwks.json') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(jwks)
    } else {
      response.writeHead(404).end()
    }
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  issuer = `http://127.0.0.1:${server.address().port}/`

  const encode = value => Buffer.from(JSON.stringify(value)).toString('base64url')
  const header = encode({ alg: 'RS256', typ: 'JWT', kid })

  return {
    issuer,
    audience: AUDIENCE,
    jwksUri: `${issuer}.well-known/jwks.json`,
    /** A valid token for this issuer and audience, with extra claims merged in. */
    sign (claims = {}, { forged = false } = {}) {
      const now = Math.floor(Date.now() / 1000)
      const payload = encode({ iss: issuer, aud: AUDIENCE, sub: 'bench@clients', iat: now, exp: now + TOKEN_TTL_SECONDS, ...claims })
      const input = `${header}.${payload}`
      const signature = sign('sha256', Buffer.from(input), forged ? forgingKey : privateKey)
      return `${input}.${signature.toString('base64url')}`
    },
    close () {
      server.closeAllConnections()
      return new Promise(resolve => server.close(resolve))
    }
  }
}

/**
 * The benchmark's two issuers, each with its own key. Every target trusts the first; only targets
 * that trust two issuers (`issuers: 2` in targets.js) also trust the second, for S6. The second
 * idles unless such a target is started: it answers its discovery and JWKS once, then nothing.
 */
export async function startKeyServers () {
  return [await startKeyServer(), await startKeyServer()]
}
