import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { bearerChallenge } from '../../src/auth/errors.js'
import { buildApp, envFor, LogCapture } from '../helpers/app.js'
import { DPOP_OFFER, offered } from '../helpers/challenges.js'
import { KeyServer } from '../helpers/key-server.js'
import { rawRequest } from '../helpers/raw-http.js'
import {
  assertCleanLogs, assertRejected, assertStillServes, parseChallenge, parseDpopChallenge, PRIVATE, rawBytes, REJECTED, throwAll, type Attack,
  type Expected
} from '../helpers/attacks.js'

/*
 * Attacks on how the credential is sent rather than what it is: other schemes, no token, odd
 * white space, the token twice, bytes outside the token alphabet, headers too big to parse. A
 * parser that is lenient where a proxy in front is strict (or the other way round) lets two
 * components read two different credentials from one request. Sent over real HTTP where the
 * bytes matter, through inject where Node's own parser would refuse them first.
 */

const keys = await KeyServer.start()
const logs = new LogCapture()
/** What a route's own hooks saw: they must never run for a request the auth check refuses. */
const hookCalls: string[] = []
const app = await buildApp(envFor(keys), logs, async fastify => {
  fastify.get('/hooked', {
    config: { auth: { scopes: ['read:messages'] } },
    onRequest: [async () => { hookCalls.push('onRequest 1') }, async () => { hookCalls.push('onRequest 2') }],
    preHandler: [async () => { hookCalls.push('preHandler') }]
  }, async () => ({ ok: true }))
  // The same with single hooks rather than lists: both forms are placed after the checks.
  fastify.get('/hooked-single', {
    onRequest: async () => { hookCalls.push('single onRequest') }
  }, async () => ({ ok: true }))
})
await app.listen({ port: 0, host: '127.0.0.1' })
const { port } = app.server.address() as AddressInfo
t.teardown(async () => { await app.close(); await keys.close() })
const valid = keys.sign()
const sent: string[] = [valid]

/** Over HTTP, exactly these header lines; each answer checked twice (the rejection cache). */
async function overHttp (t: Test, cases: Array<[string, string[], Expected]>, path = '/api/private'): Promise<void> {
  for (const [name, lines, expected] of cases) {
    await t.test(name, async t => {
      for (let round = 0; round < 2; round++) assertRejected(t, await rawRequest(port, path, lines), expected)
    })
  }
}

/** Node's own HTTP parser refuses these before Fastify runs: a clean 400, no route, no challenge. */
const NODE_BAD_REQUEST = { error: 'Bad Request', message: 'Client Error', statusCode: 400 }

t.test('other schemes, or no scheme, are no bearer token at all', async t => {
  // A valid token under another scheme (or none) must not get in, and is answered with the bare
  // challenges that tell the client which schemes to use. Under DPoP, the one other scheme this
  // API takes, a token that is not DPoP-bound is refused as such.
  const cases: Array<[string, string[], Expected]> = [
    ['Basic', ['Authorization: Basic dXNlcjpwYXNz'], REJECTED.MISSING],
    ['Digest', ['Authorization: Digest username="a", realm="api", nonce="n", uri="/", response="r"'], REJECTED.MISSING],
    ['a valid token under Token', [`Authorization: Token ${valid}`], REJECTED.MISSING],
    ['a valid token under JWT', [`Authorization: JWT ${valid}`], REJECTED.MISSING],
    ['a valid Bearer token under DPoP (it is not DPoP-bound)', [`Authorization: DPoP ${valid}`], REJECTED.NOT_DPOP_BOUND],
    ['a valid token and no scheme', [`Authorization: ${valid}`], REJECTED.MISSING],
    ['Bearer glued to the token', [`Authorization: Bearer${valid}`], REJECTED.MISSING],
    ['Bearer- prefix', [`Authorization: Bearer-${valid}`], REJECTED.MISSING],
    ['Bearer with a colon', [`Authorization: Bearer: ${valid}`], REJECTED.MISSING],
    ['BearerBearer', [`Authorization: BearerBearer ${valid}`], REJECTED.MISSING],
    ['an empty header', ['Authorization:'], REJECTED.MISSING],
    ['the token in X-Authorization', [`X-Authorization: Bearer ${valid}`], REJECTED.MISSING],
    ['the token in Proxy-Authorization', [`Proxy-Authorization: Bearer ${valid}`], REJECTED.MISSING],
    ['the token in a cookie', [`Cookie: access_token=${valid}`], REJECTED.MISSING]
  ]
  await overHttp(t, cases)
  await assertStillServes(t, app, keys)
})

t.test('Bearer with no token', async t => {
  // The scheme is right but there is nothing to verify: a malformed request, 400.
  await overHttp(t, [
    ['Bearer alone', ['Authorization: Bearer'], REJECTED.MALFORMED_HEADER],
    ['Bearer and trailing spaces (HTTP trims them)', ['Authorization: Bearer     '], REJECTED.MALFORMED_HEADER],
    ['bearer in lower case alone', ['Authorization: bearer'], REJECTED.MALFORMED_HEADER],
    ['BEARER in upper case alone', ['Authorization: BEARER'], REJECTED.MALFORMED_HEADER]
  ])
  await throwAll(t, app, [
    { name: 'Bearer and one space (inject does not trim)', authorization: 'Bearer ', expected: REJECTED.MALFORMED_HEADER },
    { name: 'Bearer and many spaces (inject does not trim)', authorization: 'Bearer      ', expected: REJECTED.MALFORMED_HEADER }
  ])
  await assertStillServes(t, app, keys)
})

t.test('white space around and inside the token', async t => {
  // RFC 7235: the scheme, then one or more spaces (SP), then the token. Tabs and other white space
  // between them, or anything after the token, are malformed: a parser that trims them would
  // accept what a stricter proxy sees differently.
  await overHttp(t, [
    ['a tab instead of the space', [`Authorization: Bearer\t${valid}`], REJECTED.MALFORMED_HEADER],
    ['a space and a tab', [`Authorization: Bearer \t${valid}`], REJECTED.MALFORMED_HEADER],
    ['a tab and a space', [`Authorization: Bearer\t ${valid}`], REJECTED.MALFORMED_HEADER],
    ['a second word after the token', [`Authorization: Bearer ${valid} extra`], REJECTED.MALFORMED_HEADER],
    ['a space inside the token', [`Authorization: Bearer ${valid.slice(0, 40)} ${valid.slice(40)}`], REJECTED.MALFORMED_HEADER],
    ['a tab inside the token', [`Authorization: Bearer ${valid.slice(0, 40)}\t${valid.slice(40)}`], REJECTED.MALFORMED_HEADER]
  ])
  const attacks: Attack[] = [
    { name: 'a no-break space after the space', authorization: `Bearer \u00a0${valid}`, expected: REJECTED.MALFORMED_HEADER },
    { name: 'a no-break space instead of the space', authorization: `Bearer\u00a0${valid}`, expected: REJECTED.MALFORMED_HEADER },
    { name: 'an ideographic space after the space', authorization: `Bearer \u3000${valid}`, expected: REJECTED.MALFORMED_HEADER },
    { name: 'a newline after the space', authorization: `Bearer \n${valid}`, expected: REJECTED.MALFORMED_HEADER },
    { name: 'a vertical tab after the space', authorization: `Bearer \v${valid}`, expected: REJECTED.MALFORMED_HEADER },
    { name: 'a trailing space (inject does not trim)', authorization: `Bearer ${valid} `, expected: REJECTED.MALFORMED_HEADER }
  ]
  await throwAll(t, app, attacks)

  await t.test('what HTTP allows still works: several spaces, white space around the value, any case', async t => {
    for (const line of [`Authorization: Bearer    ${valid}`, `Authorization:   Bearer ${valid}  \t`, `authorization: bEaReR ${valid}`, `AUTHORIZATION: BEARER ${valid}`]) {
      const response = await rawRequest(port, '/api/private', [line])
      t.equal(response.status, 200, JSON.stringify(line.slice(0, 30)))
    }
  })
})

t.test('the token sent twice', async t => {
  // Two credentials in one request: which one does each component act on? The service refuses to
  // guess (400), even when both copies are the same valid token.
  const junk = keys.sign({}, { key: { ...keys.keys[0], kid: 'junk' } })
  sent.push(junk)
  await overHttp(t, [
    ['two Authorization headers, same token', [`Authorization: Bearer ${valid}`, `Authorization: Bearer ${valid}`], REJECTED.DUPLICATE],
    ['two Authorization headers, valid then junk', [`Authorization: Bearer ${valid}`, `authorization: Bearer ${junk}`], REJECTED.DUPLICATE],
    ['two Authorization headers, junk then valid', [`AUTHORIZATION: Bearer ${junk}`, `Authorization: Bearer ${valid}`], REJECTED.DUPLICATE],
    ['a Basic header and a Bearer header', ['Authorization: Basic dXNlcjpwYXNz', `Authorization: Bearer ${valid}`], REJECTED.DUPLICATE],
    ['an empty header and a Bearer header', ['Authorization:', `Authorization: Bearer ${valid}`], REJECTED.DUPLICATE],
    ['two tokens in one header, comma-separated', [`Authorization: Bearer ${valid}, Bearer ${valid}`], REJECTED.MALFORMED_HEADER],
    ['two tokens in one header, space-separated', [`Authorization: Bearer ${valid} ${valid}`], REJECTED.MALFORMED_HEADER],
    ['two tokens glued together', [`Authorization: Bearer ${valid}${valid}`], REJECTED.MALFORMED]
  ])
  await overHttp(t, [['the header and the query', [`Authorization: Bearer ${valid}`], REJECTED.DUPLICATE]], `/api/private?access_token=${valid}`)
  await overHttp(t, [['the query alone', [], REJECTED.IN_QUERY]], `/api/private?access_token=${valid}`)
  await overHttp(t, [['the query twice', [], REJECTED.IN_QUERY]], `/api/private?access_token=${valid}&access_token=${valid}`)
  await overHttp(t, [['an empty query parameter and the header', [`Authorization: Bearer ${valid}`], REJECTED.DUPLICATE]], '/api/private?access_token=')
  await t.test('a header just accepted earns no pass when it comes twice, or with the query', async t => {
    // The service remembers the last header it read; the request's other credentials are still
    // checked every time.
    const alone = [`Authorization: Bearer ${valid}`]
    t.equal((await rawRequest(port, '/api/private', alone)).status, 200)
    assertRejected(t, await rawRequest(port, '/api/private', [...alone, ...alone]), REJECTED.DUPLICATE)
    assertRejected(t, await rawRequest(port, `/api/private?access_token=${valid}`, alone), REJECTED.DUPLICATE)
    assertRejected(t, await rawRequest(port, '/api/private?access_token=x', alone), REJECTED.DUPLICATE)
    t.equal((await rawRequest(port, '/api/private', alone)).status, 200)
  })
  await t.test('inject: the header given as a list of two values', async t => {
    // light-my-request sends one raw header per value of a list; its types only declare strings.
    const headers = { authorization: [`Bearer ${valid}`, `Bearer ${valid}`] } as unknown as Record<string, string>
    assertRejected(t, await app.inject({ url: '/api/private', headers }), REJECTED.DUPLICATE)
  })
  await assertStillServes(t, app, keys)
})

t.test('bytes outside the token alphabet', async t => {
  // RFC 6750 b64token is A-Z a-z 0-9 - . _ ~ + / and trailing =. Anything else (quotes,
  // separators, percent-encoding, non-ASCII, control bytes) is refused before any decoding.
  const cases: Array<[string, string[], Expected]> = []
  for (const character of ['$', '"', '\'', ';', ',', '<', '\\', '{', '|', '*', '%20', '!', '?', '#', '&', '=x']) {
    cases.push([`a token containing ${character}`, [`Authorization: Bearer ${valid.slice(0, 50)}${character}${valid.slice(50)}`], REJECTED.MALFORMED_HEADER])
  }
  cases.push(
    ['dots replaced by commas', [`Authorization: Bearer ${valid.replaceAll('.', ',')}`], REJECTED.MALFORMED_HEADER],
    ['a UTF-8 é inside the token', [`Authorization: Bearer ${valid.slice(0, 50)}é${valid.slice(50)}`], REJECTED.MALFORMED_HEADER],
    ['an emoji for a token', ['Authorization: Bearer 🔑'], REJECTED.MALFORMED_HEADER],
    // Characters that are b64token but not base64url: the header is fine, the token is not a JWS.
    ['~ + / in the token', [`Authorization: Bearer ${valid.slice(0, 50)}~+/${valid.slice(50)}`], REJECTED.MALFORMED]
  )
  await overHttp(t, cases)

  await t.test('a lone latin1 byte (0xE9) is refused by the app with its challenge', async t => {
    const line = Buffer.concat([Buffer.from(`Authorization: Bearer ${valid.slice(0, 50)}`), Buffer.from([0xe9]), Buffer.from(valid.slice(50))])
    assertRejected(t, await rawBytes(port, '/api/private', [line]), REJECTED.MALFORMED_HEADER)
  })
  for (const [name, byte] of [['NUL', 0x00], ['SOH', 0x01], ['ESC', 0x1b], ['DEL', 0x7f]] as const) {
    await t.test(`a ${name} byte is refused by Node's HTTP parser (400, the app never runs)`, async t => {
      const line = Buffer.concat([Buffer.from(`Authorization: Bearer ${valid.slice(0, 50)}`), Buffer.from([byte]), Buffer.from(valid.slice(50))])
      const response = await rawBytes(port, '/api/private', [line])
      t.equal(response.status, 400)
      t.same(JSON.parse(response.body), NODE_BAD_REQUEST)
    })
  }
  await t.test('a header folded over two lines (obs-fold) is refused by Node\'s parser', async t => {
    const response = await rawRequest(port, '/api/private', ['Authorization: Bearer', ` ${valid}`])
    t.equal(response.status, 400)
    t.same(JSON.parse(response.body), NODE_BAD_REQUEST)
  })
  await t.test('a space before the colon is refused by Node\'s parser', async t => {
    const response = await rawRequest(port, '/api/private', [`Authorization : Bearer ${valid}`])
    t.equal(response.status, 400)
    t.same(JSON.parse(response.body), NODE_BAD_REQUEST)
  })
  await throwAll(t, app, [
    { name: 'inject: CRLF and a second header inside the value', authorization: `Bearer ${valid}\r\nX-Injected: 1`, expected: REJECTED.MALFORMED_HEADER },
    { name: 'inject: a NUL inside the token', authorization: `Bearer ${valid.slice(0, 50)}\u0000${valid.slice(50)}`, expected: REJECTED.MALFORMED_HEADER },
    { name: 'inject: a fullwidth dot instead of a dot', authorization: `Bearer ${valid.replace('.', '\uff0e')}`, expected: REJECTED.MALFORMED_HEADER },
    { name: 'inject: a character beyond latin1 (U+0130)', authorization: `Bearer ${valid}\u0130`, expected: REJECTED.MALFORMED_HEADER }
  ])
  await assertStillServes(t, app, keys)
})

t.test('oversized headers', async t => {
  // Big credentials cost memory and parsing. Node refuses headers over 16 KB (431) before the
  // app runs; below that, the verifier refuses tokens over 8 KB before decoding them.
  for (const size of [20 * 1024, 64 * 1024, 100 * 1024]) {
    await t.test(`${size / 1024} KB Authorization header over HTTP: 431`, async t => {
      const response = await rawRequest(port, '/api/private', [`Authorization: Bearer ${'a'.repeat(size)}`])
      t.equal(response.status, 431)
      t.same(JSON.parse(response.body), { error: 'Request Header Fields Too Large', message: 'Exceeded maximum allowed HTTP header size', statusCode: 431 })
    })
  }
  await overHttp(t, [
    ['a 15 KB token: too long to be a token', [`Authorization: Bearer ${'a'.repeat(15 * 1024)}`], REJECTED.MALFORMED],
    ['a 15 KB token shaped like a JWS', [`Authorization: Bearer ${'a'.repeat(5000)}.${'b'.repeat(5000)}.${'c'.repeat(5000)}`], REJECTED.MALFORMED],
    ['a valid token padded to 9 KB with a claim', [`Authorization: Bearer ${keys.sign({ pad: 'p'.repeat(9 * 1024) })}`], REJECTED.MALFORMED]
  ])
  await throwAll(t, app, [
    { name: 'inject (no header limit): a 1 MB token', authorization: `Bearer ${'a'.repeat(1024 * 1024)}`, expected: REJECTED.MALFORMED }
  ])
  const response = await rawRequest(port, '/api/private', [`Authorization: Bearer ${valid}`])
  t.equal(response.status, 200, 'still serving over HTTP')
  t.same(JSON.parse(response.body), PRIVATE)
})

t.test('every way to reach the route meets the same check', async t => {
  // The check is attached to the route, so any method or path spelling that reaches the handler
  // meets it; spellings that do not reach it are 404s, never the handler.
  assertRejected(t, await rawRequest(port, '/api/private', []), REJECTED.MISSING)
  const head = await app.inject({ method: 'HEAD', url: '/api/private' })
  t.equal(head.statusCode, 401, 'HEAD (Fastify adds it for GET routes) needs a token too')
  t.equal(head.headers['www-authenticate'], REJECTED.MISSING.challenge)
  for (const path of ['/api/private/', '/api//private', '/API/private', '/api/%70rivate', '/api/private;x', '/api/./private', '/api/private%00', '/api/private%2F', '/api/private#x', '//api/private']) {
    const response = await rawRequest(port, path, [])
    t.ok([401, 404, 400].includes(response.status), `${path}: ${response.status}, never the handler`)
    t.notSame(JSON.parse(response.body), PRIVATE)
    if (response.status === 401) t.equal(response.headers['www-authenticate'], REJECTED.MISSING.challenge)
  }

  await t.test('a route\'s own hooks run only after the token (and its scope) passed', async t => {
    const call = async (authorization?: string) =>
      await app.inject({ url: '/hooked', headers: authorization === undefined ? {} : { authorization } })
    assertRejected(t, await call(), REJECTED.MISSING)
    assertRejected(t, await call(`Bearer ${valid.slice(0, -2)}`), REJECTED.SIGNATURE)
    t.same(hookCalls, [], 'no hook ran for a refused token')
    t.equal((await call(`Bearer ${valid}`)).statusCode, 403, 'a valid token without the scope')
    t.same(hookCalls, [], 'the scope is checked with the token, before any hook of the route runs')
    t.equal((await call(`Bearer ${keys.sign({ scope: 'read:messages' })}`)).statusCode, 200)
    t.same(hookCalls, ['onRequest 1', 'onRequest 2', 'preHandler'])
    hookCalls.length = 0
    assertRejected(t, await app.inject('/hooked-single'), REJECTED.MISSING)
    t.same(hookCalls, [], 'a single onRequest hook did not run either')
    t.equal((await app.inject({ url: '/hooked-single', headers: { authorization: `Bearer ${valid}` } })).statusCode, 200)
    t.same(hookCalls, ['single onRequest'])
  })
})

t.test('a challenge can never carry text that would break or split the header', async t => {
  // Challenge texts are fixed when the service starts, but if request-derived text ever reached
  // one, a quote, backslash or CRLF could forge attributes or headers. The builder refuses them.
  for (const bad of ['say "hi"', 'back\\slash', 'line\r\nSet-Cookie: a=b', 'tab\there', 'caf\u00e9']) {
    t.throws(() => bearerChallenge('invalid_token', bad), TypeError, `description ${JSON.stringify(bad)}`)
    t.throws(() => bearerChallenge('insufficient_scope', 'fine', bad), TypeError, `scope ${JSON.stringify(bad)}`)
  }
  t.ok(parseChallenge(bearerChallenge('insufficient_scope', 'fine', 'read:messages write:messages')))
})

t.test('the tests\' challenge parsers take this API\'s shapes and nothing else', async t => {
  const expired = 'Bearer realm="api", error="invalid_token", error_description="The access token expired"'
  t.same(parseChallenge(offered(expired)), { error: 'invalid_token', description: 'The access token expired', scope: undefined }, 'DPOP=allowed')
  t.same(parseChallenge('Bearer realm="api"'), { error: undefined, description: undefined, scope: undefined }, 'DPOP=off')
  for (const bad of [
    DPOP_OFFER, `${offered(expired)}, ${DPOP_OFFER}`, `${expired}, Basic realm="api"`, `${expired},${DPOP_OFFER}`, `${offered(expired)}, `,
    `${expired}, DPoP realm="api"`, `${expired}, DPoP realm="other", algs="ES256"`, `${expired}, DPoP algs="ES256", realm="api"`,
    `${expired}, DPoP realm="api", algs=""`, `${expired}, DPoP realm="api", algs="ES256 HS256"`, `${expired}, DPoP realm="api", algs="none"`,
    `${expired}, DPoP realm="api", algs="ES256  EdDSA"`, `${expired}, DPoP realm="api", algs="ES256 ES256"`,
    `${expired}, DPoP realm="api", error="invalid_token", error_description="x", algs="ES256"`
  ]) t.equal(parseChallenge(bad), undefined, bad)

  t.same(parseDpopChallenge(REJECTED.NOT_DPOP_BOUND.challenge), { error: 'invalid_token', description: REJECTED.NOT_DPOP_BOUND.body.message, scope: undefined })
  t.same(parseDpopChallenge('DPoP realm="api", error="use_dpop_nonce", error_description="x", algs="ES256"'),
    { error: 'use_dpop_nonce', description: 'x', scope: undefined }, 'DPOP=required: no Bearer challenge')
  for (const bad of [
    offered(expired), `DPoP realm="api", error="invalid_token", error_description="x", algs="ES256", ${expired}`,
    'DPoP realm="api", algs="ES256", error="invalid_token", error_description="x"', 'DPoP realm="api", error="nope", error_description="x", algs="ES256"',
    `${DPOP_OFFER}, Bearer realm="api", ${DPOP_OFFER}`
  ]) t.equal(parseDpopChallenge(bad), undefined, bad)
})

t.test('at LOG_LEVEL=trace, a request Node\'s parser refuses does not put its bytes in a log line', async t => {
  // Fastify logs client errors at trace with err.rawPacket (the raw request bytes); our err serializer drops it.
  const traced = new LogCapture()
  const tracing = await buildApp(envFor(keys, { LOG_LEVEL: 'trace' }), traced)
  await tracing.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => tracing.close())
  const line = Buffer.concat([Buffer.from(`Authorization: Bearer ${valid}`), Buffer.from([0x01])])
  t.equal((await rawBytes((tracing.server.address() as AddressInfo).port, '/api/private', [line])).status, 400)
  const logged = traced.lines.map(entry => (entry.err as { rawPacket?: { data?: number[] } } | undefined)?.rawPacket?.data)
    .filter(data => data !== undefined).map(data => Buffer.from(data).toString('latin1'))
  t.notOk(logged.some(bytes => bytes.includes(valid)), 'the token bytes are not in the log')
  t.ok(traced.lines.some(entry => (entry.err as { code?: string } | undefined)?.code === 'HPE_INVALID_HEADER_TOKEN'), 'the client error itself is logged')
  t.notOk(traced.raw.some(raw => raw.includes(valid) || raw.includes('rawPacket')), 'no raw packet is logged at all')
})

t.test('nothing leaked, nothing broke', async t => {
  assertCleanLogs(t, logs, sent)
})
