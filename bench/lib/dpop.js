import { createHash, generateKeyPairSync, randomUUID, sign, verify } from 'node:crypto'
import { existsSync, writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'

/**
 * DPoP for S7 (RFC 9449): the client's proof key and the proofs it signs. Signed with node:crypto
 * directly, as the key server signs its tokens, so the benchmark does not depend on the code it
 * measures (src/dpop/proof-signer.ts does the same for the service's own tools and tests).
 */

const encode = value => Buffer.from(JSON.stringify(value)).toString('base64url')
const SIGN_OPTIONS = { dsaEncoding: 'ieee-p1363' } // JWS wants r || s, not DER

/** `ath`: base64url SHA-256 of the access token (RFC 9449 section 4.2). */
export function accessTokenHash (accessToken) {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url')
}

/**
 * A fresh P-256 key for ES256 proofs. `thumbprint` is its RFC 7638 thumbprint: the `cnf.jkt` the
 * S7 token is bound to. `proof()` signs one proof; `header` is the same for all of them.
 */
export function createProofKey () {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' })
  // RFC 7638: the required members only, in lexicographic order, no whitespace.
  const thumbprint = createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url')
  const header = encode({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })
  return {
    thumbprint,
    publicKey,
    proof ({ htm, htu, ath, iat = Math.floor(Date.now() / 1000), jti = randomUUID() }) {
      const input = `${header}.${encode({ jti, htm, htu, iat, ath })}`
      return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, ...SIGN_OPTIONS }).toString('base64url')}`
    }
  }
}

/**
 * Signs `count` proofs for GET `htu`, each with its own jti and the same iat (now: the service
 * and the Express SDK both refuse proofs older than 300 s, so a pool is signed right before the
 * run that spends it), and writes them to `file` for the load generator. Returns the seconds it
 * took: ES256 signing is client work, kept out of every measured run.
 */
export function writeProofPool (file, { key, accessToken, htu, count }) {
  const started = performance.now()
  const ath = accessTokenHash(accessToken)
  const iat = Math.floor(Date.now() / 1000)
  const proofs = new Array(count)
  for (let i = 0; i < count; i++) proofs[i] = key.proof({ htm: 'GET', htu, ath, iat })
  writeFileSync(file, JSON.stringify(proofs))
  return (performance.now() - started) / 1000
}

const MEMORY_STORE = new URL('../../dist/src/replay/memory-store.js', import.meta.url)

/**
 * Median of `batches` timings of `iterations` calls, in µs per call; a first batch warms up and
 * is dropped. Calls of an async function are awaited one by one, as a request awaits its store.
 */
async function microsPerCall (call, { iterations, batches }) {
  const timings = []
  const isAsync = call.constructor.name === 'AsyncFunction'
  for (let batch = 0; batch <= batches; batch++) {
    const offset = batch * iterations
    const started = performance.now()
    if (isAsync) for (let i = 0; i < iterations; i++) await call(offset + i)
    else for (let i = 0; i < iterations; i++) call(offset + i)
    if (batch > 0) timings.push((performance.now() - started) * 1000 / iterations)
  }
  timings.sort((a, b) => a - b)
  return timings[timings.length >> 1]
}

/**
 * The least CPU a server can spend on S7's proof, measured in this process at start: one ES256
 * signature check with node:crypto (key already imported) and one insert into a replay store:
 * the service's own in-memory store (`dist/`, `claimOnce` with its key shape and ttl) when it is
 * built, a plain Map otherwise. Also the client's cost of signing a proof, which the pools keep
 * out of the runs. Everything else a server does for S7 (parsing, the token, HTTP) is above it.
 */
export async function measureProofFloor () {
  const key = createProofKey()
  const accessToken = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode({ sub: 'x'.repeat(600) })}.${'s'.repeat(342)}`
  const proof = key.proof({ htm: 'GET', htu: 'http://127.0.0.1:40000/api/private', ath: accessTokenHash(accessToken) })
  const dot = proof.lastIndexOf('.')
  const input = Buffer.from(proof.slice(0, dot))
  const signature = Buffer.from(proof.slice(dot + 1), 'base64url')
  const verifyKey = { key: key.publicKey, ...SIGN_OPTIONS }
  const verifyUs = await microsPerCall(() => {
    if (!verify('sha256', input, verifyKey, signature)) throw new Error('ES256 microbench: the signature did not verify')
  }, { iterations: 1000, batches: 5 })
  const signUs = await microsPerCall(() => key.proof({ htm: 'GET', htu: 'http://127.0.0.1:40000/api/private', ath: 'a' }), { iterations: 500, batches: 5 })

  const iterations = 20000
  const batches = 5
  const keys = Array.from({ length: iterations * (batches + 1) }, () => `${key.thumbprint}:${randomUUID()}`)
  let storeUs
  let store
  if (existsSync(fileURLToPath(MEMORY_STORE))) {
    const { MemoryReplayStore } = await import(MEMORY_STORE.href)
    const memory = new MemoryReplayStore()
    storeUs = await microsPerCall(async i => {
      if (!await memory.claimOnce(keys[i], 331)) throw new Error('replay store microbench: a fresh key was refused')
    }, { iterations, batches })
    store = 'the service\'s MemoryReplayStore.claimOnce (dist/), awaited'
  } else {
    const map = new Map()
    storeUs = await microsPerCall(i => { map.set(keys[i], i) }, { iterations, batches })
    store = 'a Map insert (dist/ not built, so not the service\'s own store)'
  }
  return { verifyUs, storeUs, store, floorUs: verifyUs + storeUs, signUs }
}
