import { createHash, createPrivateKey, createPublicKey, verify as cryptoVerify, X509Certificate, type JsonWebKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { buildApp, envFor, LogCapture } from '../helpers/app.js'
import { KeyServer, makeKey, type TestKey } from '../helpers/key-server.js'
import { rawRequest } from '../helpers/raw-http.js'
import {
  assertCleanLogs, assertRejected, assertStillServes, b64text, Canary, PRIVATE, REJECTED, signText, throwAll, tokensOf, type Attack
} from '../helpers/attacks.js'

/*
 * Attacks on key selection: the token names its own key (jwk, x5c), a place to fetch one from
 * (jku, x5u, a URL as kid or iss), or a kid built to break a lookup (path traversal, injection,
 * huge, not a string). The service takes keys only from the configured issuer, by an exact kid.
 */

const fixture = (name: string) => readFileSync(new URL(`../fixtures/attacker/${name}`, import.meta.url), 'utf8')
/** The attacker's own key and a self-signed certificate for it (see test/fixtures/attacker). */
const attackerPrivate = createPrivateKey(fixture('key.pem'))
const attackerCert = new X509Certificate(fixture('cert.pem'))
const attackerJwk = { ...createPublicKey(attackerPrivate).export({ format: 'jwk' }), kid: 'attacker-key', alg: 'RS256', use: 'sig' }
const x5c = [attackerCert.raw.toString('base64')]

t.test('key material or key location in the header is never used', async t => {
  // If a verifier fetched jku/x5u, or a kid or iss that looks like a URL, the attacker would pick
  // the key that checks their own signature; if it trusted an embedded jwk or x5c, the token
  // would carry its own proof. A second server on loopback serves exactly what such a verifier
  // would want (the attacker's JWKS, certificate, discovery) and counts every request it gets.
  const canary = await Canary.start(path => {
    if (path === '/jwks.json') return { status: 200, body: JSON.stringify({ keys: [attackerJwk] }) }
    if (path === '/.well-known/openid-configuration') {
      return { status: 200, body: JSON.stringify({ issuer: canary.url('/'), jwks_uri: canary.url('/jwks.json') }) }
    }
    return { status: 200, body: JSON.stringify({ cert: fixture('cert.pem') }) }
  })
  const keys = await KeyServer.start()
  const logs = new LogCapture()
  // A one-second cooldown, so an unknown kid can cause a refetch during the test: from where?
  const app = await buildApp(envFor(keys, { JWKS_COOLDOWN: '1' }), logs)
  t.teardown(async () => { await app.close(); await keys.close(); await canary.close() })
  const [issuerKey] = keys.keys

  const forged = (header: Record<string, unknown>, claims: Record<string, unknown> = {}) =>
    `Bearer ${signText(JSON.stringify({ alg: 'RS256', typ: 'JWT', ...header }), JSON.stringify(keys.claims({ scope: 'read:messages', ...claims })), attackerPrivate)}`
  const thumbprint = (algorithm: string) => createHash(algorithm).update(attackerCert.raw).digest('base64url')
  const attacks: Attack[] = [
    { name: 'jku to the attacker\'s JWKS, the attacker\'s kid', authorization: forged({ kid: 'attacker-key', jku: canary.url('/jwks.json') }), expected: REJECTED.UNKNOWN_KEY },
    { name: 'jku to the attacker\'s JWKS, the issuer\'s kid', authorization: forged({ kid: issuerKey.kid, jku: canary.url('/jwks.json') }), expected: REJECTED.SIGNATURE },
    { name: 'jku with no kid', authorization: forged({ jku: canary.url('/jwks.json') }), expected: REJECTED.HEADER },
    { name: 'x5u to the attacker\'s certificate', authorization: forged({ kid: 'attacker-key', x5u: canary.url('/cert.pem') }), expected: REJECTED.UNKNOWN_KEY },
    { name: 'x5u with the issuer\'s kid', authorization: forged({ kid: issuerKey.kid, x5u: canary.url('/cert.pem') }), expected: REJECTED.SIGNATURE },
    { name: 'embedded jwk that signed the token, its own kid', authorization: forged({ kid: 'attacker-key', jwk: attackerJwk }), expected: REJECTED.UNKNOWN_KEY },
    { name: 'embedded jwk that signed the token, the issuer\'s kid', authorization: forged({ kid: issuerKey.kid, jwk: { ...attackerJwk, kid: issuerKey.kid } }), url: '/api/private-scoped', expected: REJECTED.SIGNATURE },
    { name: 'embedded jwk, no kid', authorization: forged({ jwk: attackerJwk }), expected: REJECTED.HEADER },
    { name: 'x5c with the signer\'s certificate', authorization: forged({ kid: 'attacker-key', x5c }), expected: REJECTED.UNKNOWN_KEY },
    { name: 'x5c and thumbprints, the issuer\'s kid', authorization: forged({ kid: issuerKey.kid, x5c, x5t: thumbprint('sha1'), 'x5t#S256': thumbprint('sha256') }), expected: REJECTED.SIGNATURE },
    { name: 'a kid that is the attacker\'s JWKS URL', authorization: forged({ kid: canary.url('/jwks.json') }), expected: REJECTED.UNKNOWN_KEY },
    // An iss outside the allow-list is refused before any key is looked up.
    { name: 'iss naming the attacker\'s server (discovery from iss)', authorization: forged({ kid: 'attacker-key' }, { iss: canary.url('/') }), expected: REJECTED.WRONG_ISSUER },
    { name: 'iss naming the attacker\'s server, the issuer\'s kid', authorization: forged({ kid: issuerKey.kid }, { iss: canary.url('/') }), expected: REJECTED.WRONG_ISSUER },
    { name: 'a valid issuer signature, jku and x5u pointing at the attacker anyway', authorization: `Bearer ${keys.signRaw(keys.claims({ iss: canary.url('/') }), { header: { jku: canary.url('/jwks.json'), x5u: canary.url('/cert.pem') } })}`, expected: REJECTED.WRONG_ISSUER },
    { name: 'all of it at once', authorization: forged({ kid: 'attacker-key', jku: canary.url('/jwks.json'), x5u: canary.url('/cert.pem'), jwk: attackerJwk, x5c }, { iss: canary.url('/') }), url: '/api/private-scoped', expected: REJECTED.WRONG_ISSUER }
  ]
  await throwAll(t, app, attacks)

  // Past the cooldown an unknown kid may refetch the key set: it must go to the configured issuer.
  const fetchesBefore = keys.jwksFetches
  await sleep(1100)
  const late = await app.inject({ url: '/api/private', headers: { authorization: forged({ kid: 'attacker-key-2', jku: canary.url('/jwks.json') }) } })
  assertRejected(t, late, REJECTED.UNKNOWN_KEY)
  t.equal(keys.jwksFetches, fetchesBefore + 1, 'the unknown kid refetched the configured issuer\'s key set')

  t.same(canary.requests, [], 'not one request reached the attacker\'s server')
  t.same([...new Set(keys.requests)].sort(), ['/.well-known/jwks.json', '/.well-known/openid-configuration'],
    'the issuer was only asked for discovery and its key set')
  await assertStillServes(t, app, keys)
  assertCleanLogs(t, logs, tokensOf(attacks))
})

t.test('published keys that would let anyone forge a token are refused', async t => {
  // Node and OpenSSL take both keys below without complaint, and each lets a "signature" be made
  // with no private key at all. An issuer should never publish them; if one ever appears in the
  // key set (a broken or injected entry), it must be left out rather than trusted.
  const keys = await KeyServer.start()
  const [real] = keys.keys
  const rsaExponentOne: TestKey = { ...real, kid: 'rsa-e1', publicJwk: { ...real.publicJwk, kid: 'rsa-e1', e: 'AQ' } }
  const edIdentity: TestKey = {
    ...real, kid: 'ed-identity', alg: 'EdDSA', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: Buffer.alloc(32, 0).fill(1, 0, 1).toString('base64url'), kid: 'ed-identity' }
  }
  keys.published = [real, rsaExponentOne, edIdentity]
  const logs = new LogCapture()
  const app = await buildApp(envFor(keys, { ALGORITHMS: 'RS256,EdDSA' }), logs)
  t.teardown(async () => { await app.close(); await keys.close() })

  const input = (kid: string, alg: string) =>
    `${b64text(JSON.stringify({ alg, typ: 'JWT', kid }))}.${b64text(JSON.stringify(keys.claims({ scope: 'read:messages' })))}`
  // e = 1: the signature is the PKCS #1 v1.5 encoding of the digest itself (RFC 8017, 9.2).
  const rsaInput = input('rsa-e1', 'RS256')
  const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(rsaInput).digest()])
  const modulusBytes = Buffer.from(real.publicJwk.n as string, 'base64url').length
  const encoded = Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(modulusBytes - 3 - digestInfo.length, 0xff), Buffer.from([0]), digestInfo])
  // The identity point: R = identity and S = 0 satisfy the check for every message.
  const edInput = input('ed-identity', 'EdDSA')
  const edSignature = Buffer.alloc(64, 0).fill(1, 0, 1)

  // The forgeries are real: node:crypto accepts them under the published keys.
  const publicKey = (key: TestKey) => createPublicKey({ key: key.publicJwk as JsonWebKey, format: 'jwk' })
  t.ok(cryptoVerify('sha256', Buffer.from(rsaInput), publicKey(rsaExponentOne), encoded), 'the e = 1 forgery verifies with node:crypto')
  t.ok(cryptoVerify(null, Buffer.from(edInput), publicKey(edIdentity), edSignature), 'the identity-point forgery verifies with node:crypto')

  await throwAll(t, app, [
    { name: 'RS256 "signed" for an RSA key with e = 1', authorization: `Bearer ${rsaInput}.${encoded.toString('base64url')}`, url: '/api/private-scoped', expected: REJECTED.UNKNOWN_KEY },
    { name: 'EdDSA "signed" for the identity point', authorization: `Bearer ${edInput}.${edSignature.toString('base64url')}`, url: '/api/private-scoped', expected: REJECTED.UNKNOWN_KEY }
  ])
  t.match(logs.lines.find(line => line.msg === 'some keys in the issuer key set were ignored')?.skipped,
    [/rsa-e1.*unsafe public exponent/, /ed-identity.*small order/], 'the log says which keys were left out and why')
  await assertStillServes(t, app, keys)
})

t.test('kid values that attack the key lookup', async t => {
  // A kid used as a file path, a query, a template, a header or a property name can read files,
  // match every key, run a lookup, split a response or reach Object.prototype. Here it is only
  // ever an exact key of a Map of the issuer's keys, bounded in length and required to be a string.
  const keys = await KeyServer.start()
  const logs = new LogCapture()
  const app = await buildApp(envFor(keys), logs)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  t.teardown(async () => { await app.close(); await keys.close() })
  const [issuerKey] = keys.keys
  const fetchesBefore = keys.jwksFetches
  /** Signed by the issuer's real key: only the kid is wrong. */
  const withKid = (kid: unknown) => `Bearer ${keys.signRaw(keys.claims(), { header: { kid } })}`
  const unknown = (name: string, kid: string): Attack => ({ name, authorization: withKid(kid), expected: REJECTED.UNKNOWN_KEY })
  const refused = (name: string, kid: unknown): Attack => ({ name, authorization: withKid(kid), expected: REJECTED.HEADER })
  const attacks: Attack[] = [
    unknown('path traversal to /etc/passwd', '../../etc/passwd'),
    unknown('deep path traversal to /dev/zero', '../../../../../../../../dev/zero'),
    unknown('an absolute path', '/etc/passwd'),
    unknown('Windows path traversal', '..\\..\\..\\windows\\win.ini'),
    unknown('a file URL', 'file:///etc/passwd'),
    unknown('URL-encoded traversal', '%2e%2e%2f%2e%2e%2fetc%2fpasswd'),
    unknown('traversal back to the real kid', `../${issuerKey.kid}/../${issuerKey.kid}`),
    unknown('SQL injection', '\' OR 1=1 --'),
    unknown('SQL union', 'x\' UNION SELECT key FROM keys --'),
    unknown('NoSQL operator as a string', '{"$ne":null}'),
    unknown('a wildcard', '*'),
    unknown('a JNDI lookup', '${jndi:ldap://127.0.0.1:1/a}'),
    unknown('markup', '<script>alert(1)</script>'),
    unknown('CRLF header injection', 'x\r\nSet-Cookie: pwned=1'),
    unknown('CRLF response splitting', 'x\r\n\r\nHTTP/1.1 200 OK\r\n'),
    unknown('the real kid with a NUL byte', `${issuerKey.kid}\u0000`),
    unknown('a NUL byte', '\u0000'),
    unknown('__proto__', '__proto__'),
    unknown('constructor', 'constructor'),
    unknown('hasOwnProperty', 'hasOwnProperty'),
    unknown('toString', 'toString'),
    unknown('the real kid in upper case', issuerKey.kid.toUpperCase()),
    unknown('the real kid with a leading space', ` ${issuerKey.kid}`),
    unknown('the longest kid accepted (256)', 'k'.repeat(256)),
    refused('one character too long (257)', 'k'.repeat(257)),
    refused('empty', ''),
    refused('a number', 42),
    refused('zero', 0),
    refused('an object', {}),
    refused('a NoSQL operator object', { $ne: null }),
    refused('an empty array', []),
    refused('an array holding the real kid', [issuerKey.kid]),
    refused('null', null),
    refused('true', true),
    refused('false', false),
    { name: 'no kid', authorization: `Bearer ${keys.signRaw(keys.claims(), { header: { kid: undefined } })}`, expected: REJECTED.HEADER },
    { name: '100 KB (inject has no header limit: the token is too long)', authorization: withKid('k'.repeat(100 * 1024)), expected: REJECTED.MALFORMED },
    { name: '8000 characters', authorization: withKid('k'.repeat(8000)), expected: REJECTED.MALFORMED }
  ]
  await throwAll(t, app, attacks)

  const split = await app.inject({ url: '/api/private', headers: { authorization: withKid('x\r\nSet-Cookie: pwned=1') } })
  t.equal(split.headers['set-cookie'], undefined, 'no header injected')

  await t.test('over HTTP: a 100 KB kid is 431 from Node\'s 16 KB header limit, and nothing breaks', async t => {
    const token = withKid('k'.repeat(100 * 1024)).slice('Bearer '.length)
    const response = await rawRequest(port, '/api/private', [`Authorization: Bearer ${token}`])
    t.equal(response.status, 431)
    t.same(JSON.parse(response.body), { error: 'Request Header Fields Too Large', message: 'Exceeded maximum allowed HTTP header size', statusCode: 431 })
  })

  await t.test('over HTTP: a kid just under the header limit is a clean 401', async t => {
    const line = `Authorization: ${withKid('k'.repeat(11_000))}`
    t.ok(line.length > 15_000 && line.length < 16_000, `the header line is ${line.length} bytes`)
    assertRejected(t, await rawRequest(port, '/api/private', [line]), REJECTED.MALFORMED)
  })

  t.ok(keys.jwksFetches - fetchesBefore <= 1, 'a flood of unknown kids costs at most one key set fetch per cooldown')
  const response = await rawRequest(port, '/api/private', [`Authorization: Bearer ${keys.sign()}`])
  t.equal(response.status, 200, 'still serving over HTTP')
  t.same(JSON.parse(response.body), PRIVATE)
  assertCleanLogs(t, logs, tokensOf(attacks))
})

t.test('a published asymmetric algorithm that is not allow-listed', async t => {
  // The issuer publishes EC, Ed25519 and RSA keys; the API allows fewer algorithms. A token signed
  // with a real published key, but by an algorithm outside the allow-list (or outside what that
  // key is published for), is refused: the allow-list is bound per key, not per token.
  const rsa = makeKey('RSA', 'rsa-rs256')
  const rsaAnyAlg = makeKey('RSA', 'rsa-no-alg')
  delete rsaAnyAlg.publicJwk.alg
  const ec = makeKey('EC', 'ec-es256')
  const ed = makeKey('Ed25519', 'ed-eddsa')
  const keys = await KeyServer.start([rsa, rsaAnyAlg, ec, ed])
  t.teardown(() => keys.close())
  const token = (alg: string, key: TestKey, kid = key.kid) =>
    `Bearer ${signText(JSON.stringify({ alg, typ: 'JWT', kid }), JSON.stringify(keys.claims()), key.privateKey, alg)}`

  /** The same token with its signature cut to `bytes` bytes (an ES256 signature has 64). */
  const shortened = (authorization: string, bytes = 48) => {
    const [head, body, signature] = authorization.split('.')
    return `${head}.${body}.${Buffer.from(signature, 'base64url').subarray(0, bytes).toString('base64url')}`
  }

  await t.test('with the default allow-list (RS256 only)', async t => {
    const logs = new LogCapture()
    const app = await buildApp(envFor(keys), logs)
    t.teardown(() => app.close())
    const attacks: Attack[] = [
      { name: 'ES256 by the published EC key', authorization: token('ES256', ec), expected: REJECTED.ALGORITHM },
      { name: 'EdDSA by the published Ed25519 key', authorization: token('EdDSA', ed), expected: REJECTED.ALGORITHM },
      { name: 'PS256 by the published RSA key', authorization: token('PS256', rsa), expected: REJECTED.ALGORITHM },
      { name: 'RS384 by the published RSA key', authorization: token('RS384', rsa), expected: REJECTED.ALGORITHM },
      { name: 'RS512 by the RSA key published without alg', authorization: token('RS512', rsaAnyAlg), expected: REJECTED.ALGORITHM },
      { name: 'PS512 by the RSA key published without alg', authorization: token('PS512', rsaAnyAlg), expected: REJECTED.ALGORITHM }
    ]
    await throwAll(t, app, attacks)
    const control = await app.inject({ url: '/api/private', headers: { authorization: token('RS256', rsa) } })
    t.equal(control.statusCode, 200, 'RS256 by the RSA key gets in')
    assertCleanLogs(t, logs, tokensOf(attacks))
  })

  await t.test('with RS256, PS256 and ES256 allowed: each key keeps to its own algorithms', async t => {
    const logs = new LogCapture()
    const app = await buildApp(envFor(keys, { ALGORITHMS: 'RS256,PS256,ES256' }), logs)
    t.teardown(() => app.close())
    const attacks: Attack[] = [
      { name: 'PS256 by the RSA key published for RS256', authorization: token('PS256', rsa), expected: REJECTED.ALGORITHM },
      { name: 'RS256 naming the EC key\'s kid', authorization: token('RS256', rsa, ec.kid), expected: REJECTED.ALGORITHM },
      { name: 'ES256 naming the RSA key\'s kid', authorization: token('ES256', ec, rsa.kid), expected: REJECTED.ALGORITHM },
      { name: 'EdDSA by the published Ed25519 key', authorization: token('EdDSA', ed), expected: REJECTED.ALGORITHM },
      { name: 'ES256 by an attacker\'s EC key reusing the EC kid', authorization: token('ES256', makeKey('EC', ec.kid)), expected: REJECTED.SIGNATURE },
      { name: 'ES256 with a signature of the wrong length', authorization: shortened(token('ES256', ec)), expected: REJECTED.SIGNATURE },
      { name: 'ES256 with an empty-ish signature (one byte)', authorization: shortened(token('ES256', ec), 1), expected: REJECTED.SIGNATURE }
    ]
    await throwAll(t, app, attacks)
    for (const [name, authorization] of [['ES256 by the EC key', token('ES256', ec)], ['PS256 by the RSA key published without alg', token('PS256', rsaAnyAlg)], ['RS256 by the RSA key', token('RS256', rsa)]]) {
      const control = await app.inject({ url: '/api/private', headers: { authorization } })
      t.equal(control.statusCode, 200, `${name} gets in`)
    }
    assertCleanLogs(t, logs, tokensOf(attacks))
  })
})


