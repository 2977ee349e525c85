import { createHmac, createPublicKey } from 'node:crypto'
import t, { type Test } from 'tap'
import { buildApp, envFor, LogCapture } from '../helpers/app.js'
import { KeyServer, makeKey } from '../helpers/key-server.js'
import { keySetOf } from '../helpers/issuers.js'
import {
  assertCleanLogs, assertStillServes, b64, b64text, REJECTED, respell, segments, signatureOver, signText, throwAll, tokensOf, type Attack
} from '../helpers/attacks.js'

/*
 * Forged tokens: tokens whose signature an attacker made without the issuer's private key, or
 * changed after the issuer made it. Every one must be a clean 401 with its challenge, and the
 * service must go on serving valid tokens.
 */

const issuerKey = makeKey('RSA', 'issuer-key-1')
const otherIssuerKey = makeKey('RSA', 'issuer-key-2')
const keys = await KeyServer.start([issuerKey, otherIssuerKey])
const logs = new LogCapture()
const app = await buildApp(envFor(keys), logs)
t.teardown(async () => { await app.close(); await keys.close() })

const used: Attack[] = []
async function corpus (t: Test, attacks: Attack[]): Promise<void> {
  used.push(...attacks)
  await throwAll(t, app, attacks)
  await assertStillServes(t, app, keys)
}

const bearer = (token: string) => `Bearer ${token}`
/** A base64url segment with the padding standard base64 would add. */
const padded = (segment: string) => segment + '='.repeat((4 - segment.length % 4) % 4)
/** A valid token, to take apart. */
const valid = keys.sign({ scope: 'read:messages' })
const [header, payload, signature] = segments(valid)

t.test('alg "none" in its spellings, with and without a signature', async t => {
  // The oldest JWT attack: declare the token unsigned and hope the verifier believes the header.
  // Without a signature the token is not a JWS at all; with one (kept from a real token, or junk)
  // the algorithm is outside the allow-list. Either way it is refused before any key lookup.
  const attacks: Attack[] = []
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    const forged = `${b64({ alg, typ: 'JWT', kid: issuerKey.kid })}.${b64(keys.claims({ scope: 'read:messages' }))}`
    attacks.push(
      { name: `${alg}, empty signature`, authorization: bearer(`${forged}.`), expected: REJECTED.MALFORMED },
      { name: `${alg}, no signature segment at all`, authorization: bearer(forged), expected: REJECTED.MALFORMED },
      { name: `${alg}, a real token's signature kept`, authorization: bearer(`${forged}.${signature}`), expected: REJECTED.ALGORITHM },
      { name: `${alg}, junk signature, on the scoped route`, authorization: bearer(`${forged}.c2ln`), url: '/api/private-scoped', expected: REJECTED.ALGORITHM }
    )
  }
  attacks.push(
    { name: 'no alg at all', authorization: bearer(`${b64({ kid: issuerKey.kid })}.${payload}.${signature}`), expected: REJECTED.ALGORITHM },
    { name: 'alg empty', authorization: bearer(`${b64({ alg: '', kid: issuerKey.kid })}.${payload}.${signature}`), expected: REJECTED.ALGORITHM },
    { name: 'alg null', authorization: bearer(`${b64({ alg: null, kid: issuerKey.kid })}.${payload}.${signature}`), expected: REJECTED.ALGORITHM },
    { name: 'alg as an array naming RS256', authorization: bearer(`${b64({ alg: ['RS256'], kid: issuerKey.kid })}.${payload}.${signature}`), expected: REJECTED.ALGORITHM },
    { name: 'alg in lower case (rs256)', authorization: bearer(`${b64({ alg: 'rs256', kid: issuerKey.kid })}.${payload}.${signature}`), expected: REJECTED.ALGORITHM },
    { name: 'alg with a trailing space', authorization: bearer(`${b64({ alg: 'RS256 ', kid: issuerKey.kid })}.${payload}.${signature}`), expected: REJECTED.ALGORITHM },
    // A parser that kept the first duplicate member would read "RS256"; JSON.parse keeps the last.
    { name: 'alg given twice, none last', authorization: bearer(`${Buffer.from(`{"alg":"RS256","kid":"${issuerKey.kid}","alg":"none"}`).toString('base64url')}.${payload}.${signature}`), expected: REJECTED.ALGORITHM }
  )
  await corpus(t, attacks)
})

t.test('HS256/HS384/HS512 keyed with the issuer\'s public key (algorithm confusion)', async t => {
  // The attacker knows the public key (the JWKS is public). A verifier that lets the token pick
  // HMAC and then uses "the key" as the HMAC secret verifies a MAC anyone can compute. We try the
  // public key in every form a library might turn into secret bytes.
  const publicKey = createPublicKey(issuerKey.privateKey)
  const jwk = issuerKey.publicJwk
  const secrets: Record<string, Buffer | string> = {
    'SPKI PEM': publicKey.export({ type: 'spki', format: 'pem' }) as string,
    'SPKI PEM without its final newline': (publicKey.export({ type: 'spki', format: 'pem' }) as string).trimEnd(),
    'PKCS#1 PEM': publicKey.export({ type: 'pkcs1', format: 'pem' }) as string,
    'JWK as published (JSON)': JSON.stringify(jwk),
    'JWK with only n and e (JSON)': JSON.stringify({ kty: 'RSA', n: jwk.n, e: jwk.e }),
    'SPKI DER bytes': publicKey.export({ type: 'spki', format: 'der' }),
    'raw modulus bytes': Buffer.from(jwk.n as string, 'base64url'),
    'modulus as base64url text': jwk.n as string
  }
  const attacks: Attack[] = []
  for (const alg of ['HS256', 'HS384', 'HS512']) {
    for (const [form, secret] of Object.entries(secrets)) {
      const input = `${b64({ alg, typ: 'JWT', kid: issuerKey.kid })}.${b64(keys.claims({ scope: 'read:messages' }))}`
      const mac = createHmac(`sha${alg.slice(2)}`, secret).update(input).digest('base64url')
      attacks.push({ name: `${alg} keyed with the ${form}`, authorization: bearer(`${input}.${mac}`), url: '/api/private-scoped', expected: REJECTED.ALGORITHM })
    }
  }
  await corpus(t, attacks)

  // Defence in depth: even with our header check gone, the library refuses an HMAC over a public key.
  const issuerPem = (await keySetOf(app).get(issuerKey.kid)).pem
  const input = `${b64({ alg: 'HS256', kid: issuerKey.kid })}.${b64(keys.claims())}`
  const forged = `${input}.${createHmac('sha256', issuerPem).update(input).digest('base64url')}`
  t.throws(() => app.jwt.verify(forged, { key: issuerPem, algorithms: ['RS256', 'HS256'] }), 'fast-jwt refuses it too')
})

t.test('signature stripped, truncated, swapped or re-encoded', async t => {
  // The signature is the only thing an attacker cannot make; these try to get past its check by
  // removing it, cutting it, borrowing a real one from another token, or spelling a real one
  // differently so that a strict and a lenient decoder disagree.
  const otherToken = keys.sign({ sub: 'someone-else' })
  const otherKeyToken = keys.sign({ scope: 'read:messages' }, { key: otherIssuerKey })
  const signatureBytes = Buffer.from(signature, 'base64url')
  /**
   * A valid token that every re-encoding changes: no segment a multiple of 4 long (so padding is
   * added) and a signature with both - and _ (so standard base64 spells it with + and /).
   */
  let urlSafe = valid
  for (let n = 0; segments(urlSafe).some(part => part.length % 4 === 0) || !/-/.test(segments(urlSafe)[2]) || !/_/.test(segments(urlSafe)[2]); n++) {
    urlSafe = keys.signRaw(keys.claims({ jti: 'j'.repeat(n % 3) + String(n) }), { header: { pad: 'p'.repeat(n % 4) } })
  }
  const [urlSafeHeader, urlSafePayload, urlSafeSignature] = segments(urlSafe)
  const flipped = Buffer.from(signatureBytes)
  flipped[0] ^= 1
  const attacks: Attack[] = [
    { name: 'signature segment empty', authorization: bearer(`${header}.${payload}.`), expected: REJECTED.MALFORMED },
    { name: 'signature segment gone (two parts)', authorization: bearer(`${header}.${payload}`), expected: REJECTED.MALFORMED },
    { name: 'one character cut off the signature', authorization: bearer(`${header}.${payload}.${signature.slice(0, -1)}`), expected: REJECTED.MALFORMED },
    { name: 'signature cut to half its bytes', authorization: bearer(`${header}.${payload}.${signatureBytes.subarray(0, 128).toString('base64url')}`), expected: REJECTED.SIGNATURE },
    { name: 'signature cut to one byte', authorization: bearer(`${header}.${payload}.${signatureBytes.subarray(0, 1).toString('base64url')}`), expected: REJECTED.SIGNATURE },
    { name: 'one bit of the signature flipped', authorization: bearer(`${header}.${payload}.${flipped.toString('base64url')}`), expected: REJECTED.SIGNATURE },
    { name: 'signature of all zero bytes', authorization: bearer(`${header}.${payload}.${Buffer.alloc(256).toString('base64url')}`), expected: REJECTED.SIGNATURE },
    { name: 'signature swapped from another token of the same key', authorization: bearer(`${header}.${payload}.${segments(otherToken)[2]}`), expected: REJECTED.SIGNATURE },
    { name: 'signature swapped from a token of the issuer\'s other key', authorization: bearer(`${header}.${payload}.${segments(otherKeyToken)[2]}`), expected: REJECTED.SIGNATURE },
    { name: 'header swapped to the other key\'s (kid points at the wrong key)', authorization: bearer(`${segments(otherKeyToken)[0]}.${payload}.${signature}`), expected: REJECTED.SIGNATURE },
    { name: 'signature twice', authorization: bearer(`${header}.${payload}.${signature}${signature}`), expected: REJECTED.SIGNATURE },
    { name: 'signature with base64 padding', authorization: bearer(`${urlSafeHeader}.${urlSafePayload}.${padded(urlSafeSignature)}`), expected: REJECTED.MALFORMED },
    { name: 'header with base64 padding', authorization: bearer(`${padded(urlSafeHeader)}.${urlSafePayload}.${urlSafeSignature}`), expected: REJECTED.MALFORMED_HEADER },
    { name: 'payload with base64 padding', authorization: bearer(`${urlSafeHeader}.${padded(urlSafePayload)}.${urlSafeSignature}`), expected: REJECTED.MALFORMED_HEADER },
    {
      name: 'signature in standard base64 (+ and /)',
      authorization: bearer(`${urlSafeHeader}.${urlSafePayload}.${Buffer.from(urlSafeSignature, 'base64url').toString('base64').replace(/=+$/, '')}`),
      expected: REJECTED.MALFORMED
    },
    // The same signature bytes, spelled with the unused low bits of the last character set: a
    // lenient decoder reads the very same bytes, so the one signed token would have many spellings.
    { name: 'signature respelled (non-canonical last character)', authorization: bearer(`${header}.${payload}.${respell(signature)}`), expected: REJECTED.MALFORMED },
    { name: 'payload respelled (non-canonical)', authorization: bearer(`${header}.${respell(payload)}.${signature}`), expected: REJECTED.MALFORMED },
    { name: 'header respelled (non-canonical)', authorization: bearer(`${respell(header)}.${payload}.${signature}`), expected: REJECTED.MALFORMED },
    { name: 'an extra empty segment', authorization: bearer(`${valid}.`), expected: REJECTED.MALFORMED },
    { name: 'segments in the wrong order (the claims read as a header without alg)', authorization: bearer(`${payload}.${header}.${signature}`), expected: REJECTED.ALGORITHM }
  ]
  await corpus(t, attacks)
  const control = await app.inject({ url: '/api/private', headers: { authorization: bearer(urlSafe) } })
  t.equal(control.statusCode, 200, 'the token the re-encodings came from is itself valid')
})

t.test('claims or header changed after signing', async t => {
  // The attacker holds a real token and edits what it says: more scope, another audience, a
  // later expiry, another subject, another key. The signature covers the exact bytes, so every
  // edit, even one that leaves the JSON meaning the same, breaks it.
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
  const tampered = (changes: Record<string, unknown>) => bearer(`${header}.${b64({ ...claims, ...changes })}.${signature}`)
  const attacks: Attack[] = [
    { name: 'scope widened', authorization: tampered({ scope: 'read:messages write:messages admin' }), url: '/api/private-scoped', expected: REJECTED.SIGNATURE },
    { name: 'permissions added', authorization: tampered({ permissions: ['read:messages'] }), url: '/api/private-scoped', expected: REJECTED.SIGNATURE },
    { name: 'audience changed', authorization: tampered({ aud: 'https://other.example' }), expected: REJECTED.SIGNATURE },
    { name: 'expiry pushed a year out', authorization: tampered({ exp: (claims.exp as number) + 365 * 86400 }), expected: REJECTED.SIGNATURE },
    // An iss outside the allow-list is refused before its signature is even looked at.
    { name: 'issuer changed', authorization: tampered({ iss: 'https://evil.example/' }), expected: REJECTED.WRONG_ISSUER },
    { name: 'subject changed', authorization: tampered({ sub: 'admin' }), expected: REJECTED.SIGNATURE },
    { name: 'same claims, re-serialized with spaces', authorization: bearer(`${header}.${Buffer.from(JSON.stringify(claims, null, 1)).toString('base64url')}.${signature}`), expected: REJECTED.SIGNATURE },
    { name: 'header: kid changed to the issuer\'s other key', authorization: bearer(`${b64({ alg: 'RS256', typ: 'JWT', kid: otherIssuerKey.kid })}.${payload}.${signature}`), expected: REJECTED.SIGNATURE },
    { name: 'header: typ added', authorization: bearer(`${b64({ alg: 'RS256', typ: 'at+jwt', kid: issuerKey.kid })}.${payload}.${signature}`), expected: REJECTED.SIGNATURE },
    { name: 'header: alg raised to RS512 (not allow-listed)', authorization: bearer(`${b64({ alg: 'RS512', typ: 'JWT', kid: issuerKey.kid })}.${payload}.${signature}`), expected: REJECTED.ALGORITHM }
  ]
  await corpus(t, attacks)
})

t.test('an attacker key that reuses a legitimate kid', async t => {
  // The attacker signs with a key of their own and names the issuer's kid, hoping the verifier
  // trusts the name. The kid only selects the issuer's published key, which the signature fails.
  const attacker = makeKey('RSA', issuerKey.kid)
  const attackerEc = makeKey('EC', issuerKey.kid)
  const attackerEd = makeKey('Ed25519', issuerKey.kid)
  const attackerPs = makeKey('RSA', issuerKey.kid, 'PS256')
  const attacks: Attack[] = [
    { name: 'RSA key, RS256, the issuer\'s first kid', authorization: bearer(keys.sign({ scope: 'read:messages' }, { key: attacker })), url: '/api/private-scoped', expected: REJECTED.SIGNATURE },
    { name: 'RSA key, RS256, the issuer\'s second kid', authorization: bearer(keys.sign({}, { key: { ...attacker, kid: otherIssuerKey.kid } })), expected: REJECTED.SIGNATURE },
    { name: 'RSA key, PS256', authorization: bearer(keys.sign({}, { key: attackerPs })), expected: REJECTED.ALGORITHM },
    { name: 'EC key, ES256', authorization: bearer(keys.sign({}, { key: attackerEc })), expected: REJECTED.ALGORITHM },
    { name: 'Ed25519 key, EdDSA', authorization: bearer(keys.sign({}, { key: attackerEd })), expected: REJECTED.ALGORITHM },
    { name: 'RSA key, RS256 declared, ES256 bytes', authorization: bearer(`${header}.${payload}.${signatureOver(`${header}.${payload}`, attackerEc.privateKey, 'ES256')}`), expected: REJECTED.SIGNATURE }
  ]
  await corpus(t, attacks)
})

t.test('JWE-shaped and otherwise mis-shaped tokens', async t => {
  // An encrypted token (JWE, five parts) is not a signed one; a verifier that decrypts, or that
  // takes the first three parts, may accept what nobody signed. Also: too few or too many parts.
  const jweHeader = b64({ alg: 'RSA-OAEP', enc: 'A256GCM', kid: issuerKey.kid })
  const attacks: Attack[] = [
    { name: 'five parts (RSA-OAEP)', authorization: bearer(`${jweHeader}.${b64text('key')}.${b64text('iv')}.${payload}.${b64text('tag')}`), expected: REJECTED.MALFORMED },
    { name: 'five parts, alg dir, empty encrypted key', authorization: bearer(`${b64({ alg: 'dir', enc: 'A128GCM' })}..${b64text('iv')}.${payload}.${b64text('tag')}`), expected: REJECTED.MALFORMED },
    { name: 'five parts: a valid token with two more', authorization: bearer(`${valid}.${b64text('iv')}.${b64text('tag')}`), expected: REJECTED.MALFORMED },
    { name: 'four parts', authorization: bearer(`${valid}.${signature}`), expected: REJECTED.MALFORMED },
    { name: 'one part', authorization: bearer(payload), expected: REJECTED.MALFORMED },
    { name: 'dots only', authorization: bearer('..'), expected: REJECTED.MALFORMED },
    { name: 'a JWE header in a three-part token', authorization: bearer(`${jweHeader}.${payload}.${signature}`), expected: REJECTED.ALGORITHM },
    { name: 'a header that is JSON but not an object', authorization: bearer(`${b64(['RS256'])}.${payload}.${signature}`), expected: REJECTED.MALFORMED },
    { name: 'a header that is not JSON', authorization: bearer(`${b64text('{"alg":"RS256",')}.${payload}.${signature}`), expected: REJECTED.MALFORMED },
    { name: 'a header nested 2000 deep (parsed, then the signature fails)', authorization: bearer(`${b64text(`{"alg":"RS256","kid":"${issuerKey.kid}","x":${'['.repeat(2000)}${']'.repeat(2000)}}`)}.${payload}.${signature}`), expected: REJECTED.SIGNATURE },
    {
      name: 'a nested JWT (cty JWT) signed by the issuer: the payload is a token, not claims',
      authorization: bearer(signText(JSON.stringify({ alg: 'RS256', kid: issuerKey.kid, cty: 'JWT' }), JSON.stringify(valid), issuerKey.privateKey)),
      expected: REJECTED.MALFORMED
    }
  ]
  await corpus(t, attacks)
})

t.test('critical header extensions this API does not understand', async t => {
  // RFC 7515 4.1.11: a token that lists an extension in crit must be refused by a verifier that
  // does not implement it (b64:false would change what the signature covers). These tokens are
  // validly signed by the issuer; only crit is wrong.
  const withHeader = (extra: Record<string, unknown>) => bearer(keys.signRaw(keys.claims(), { header: extra }))
  const attacks: Attack[] = [
    { name: 'an unknown extension', authorization: withHeader({ crit: ['exp-ext'], 'exp-ext': 1 }), expected: REJECTED.CRITICAL },
    { name: 'b64 false (unencoded payload, RFC 7797)', authorization: withHeader({ crit: ['b64'], b64: false }), expected: REJECTED.CRITICAL },
    { name: 'listed but absent', authorization: withHeader({ crit: ['missing'] }), expected: REJECTED.CRITICAL },
    { name: 'an empty list', authorization: withHeader({ crit: [] }), expected: REJECTED.CRITICAL },
    { name: 'a standard header name', authorization: withHeader({ crit: ['alg'] }), expected: REJECTED.CRITICAL },
    { name: 'a string instead of a list', authorization: withHeader({ crit: 'exp-ext', 'exp-ext': 1 }), expected: REJECTED.CRITICAL },
    { name: 'a number in the list', authorization: withHeader({ crit: [1] }), expected: REJECTED.CRITICAL },
    { name: 'null (a falsy crit is still a crit)', authorization: withHeader({ crit: null }), expected: REJECTED.CRITICAL },
    { name: 'false', authorization: withHeader({ crit: false }), expected: REJECTED.CRITICAL },
    { name: 'an empty string', authorization: withHeader({ crit: '' }), expected: REJECTED.CRITICAL }
  ]
  await corpus(t, attacks)
})

t.test('nothing leaked, nothing broke', async t => {
  assertCleanLogs(t, logs, tokensOf(used))
})
