import { X509Certificate } from 'node:crypto'
import { Agent } from 'node:https'
import Fastify, { type FastifyInstance } from 'fastify'
import { test, type Test } from 'tap'
import { MalformedCertificateHeader } from '../../src/auth/errors.js'
import { presentedCertificateThumbprint, type ClientCertificateSources } from '../../src/mtls/client-certificate.js'
import { tlsServerOptions } from '../../src/mtls/tls-options.js'
import { fixture, fixturePath, httpsGet, identity, OPENSSL_THUMBPRINTS } from './tls-client.js'

const CLIENT = OPENSSL_THUMBPRINTS['client.crt']
const SELF_SIGNED = OPENSSL_THUMBPRINTS['self-signed-client.crt']

/**
 * A real server on 127.0.0.1 whose route answers with the thumbprint it sees (null: none), or 400
 * for a malformed trusted header. https with the service's own options unless `tls` is false.
 */
async function thumbprintServer (t: Test, sources: ClientCertificateSources, tls = true): Promise<string> {
  const https = tls
    ? tlsServerOptions({ TLS_CERT: fixturePath('mtls-server.crt'), TLS_KEY: fixturePath('mtls-server.key'), TLS_CLIENT_CA: sources.caConfigured ? fixturePath('client-ca.crt') : undefined })
    : null
  const server: FastifyInstance = Fastify({ https: https ?? null })
  server.get('/thumbprint', async (request, reply) => {
    try {
      return { thumbprint: presentedCertificateThumbprint(request, sources) ?? null }
    } catch (error) {
      if (!(error instanceof MalformedCertificateHeader)) throw error
      return await reply.code(400).send({ error: error.code, message: error.message })
    }
  })
  t.teardown(() => server.close())
  return `${await server.listen({ port: 0, host: '127.0.0.1' })}/thumbprint`
}

const thumbprintOf = (answer: { status: number, body: string }): unknown =>
  answer.status === 200 ? (JSON.parse(answer.body) as { thumbprint: unknown }).thumbprint : answer

/** `:<base64 DER>:`, as a proxy puts a client certificate in Client-Cert (RFC 9440). */
function clientCertHeader (name: string): string {
  return `:${new X509Certificate(fixture(name)).raw.toString('base64')}:`
}

test('without TLS_CLIENT_CA: any certificate presented in the handshake (self-signed binding)', async t => {
  const url = await thumbprintServer(t, { trustHeader: false, caConfigured: false })
  t.equal(thumbprintOf(await httpsGet(url, { identity: identity('client') })), CLIENT, 'as openssl computes it')
  t.equal(thumbprintOf(await httpsGet(url, { identity: identity('self-signed-client') })), SELF_SIGNED)
  t.equal(thumbprintOf(await httpsGet(url)), null, 'none presented: still served')
})

test('with TLS_CLIENT_CA: only a certificate the handshake verified against it', async t => {
  const url = await thumbprintServer(t, { trustHeader: false, caConfigured: true })
  t.equal(thumbprintOf(await httpsGet(url, { identity: identity('client') })), CLIENT)
  t.equal(thumbprintOf(await httpsGet(url, { identity: identity('self-signed-client') })), null, 'not issued by the CA')
  t.equal(thumbprintOf(await httpsGet(url)), null)
})

test('one connection, one certificate: keep-alive requests and resumed sessions see it', async t => {
  const url = await thumbprintServer(t, { trustHeader: false, caConfigured: true })
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 1, ...identity('client') })
  t.teardown(() => { keepAlive.destroy() })
  for (let request = 0; request < 3; request++) {
    t.equal(thumbprintOf(await httpsGet(url, { agent: keepAlive })), CLIENT, `request ${request} on the same connection`)
  }
  // A new connection per request, resuming the first one's TLS session: the certificate comes along.
  const resuming = new Agent({ keepAlive: false, ...identity('client') })
  t.teardown(() => { resuming.destroy() })
  t.equal(thumbprintOf(await httpsGet(url, { agent: resuming })), CLIENT)
  const resumed = await httpsGet(url, { agent: resuming })
  t.equal(resumed.sessionReused, true, 'the session was resumed')
  t.equal(thumbprintOf(resumed), CLIENT)
})

test('a connection already gone has no certificate', async t => {
  const server = Fastify({ https: tlsServerOptions({ TLS_CERT: fixturePath('mtls-server.crt'), TLS_KEY: fixturePath('mtls-server.key') }) ?? null })
  t.teardown(() => server.close())
  let seen: string | undefined = 'not called'
  server.get('/gone', async request => {
    request.raw.socket.destroy()
    seen = presentedCertificateThumbprint(request, { trustHeader: false, caConfigured: false })
    return {}
  })
  const url = await server.listen({ port: 0, host: '127.0.0.1' })
  await t.rejects(httpsGet(`${url}/gone`, { identity: identity('client') }))
  t.equal(seen, undefined)
})

test('plain http: no certificate, and an untrusted Client-Cert header is never read', async t => {
  const url = await thumbprintServer(t, { trustHeader: false, caConfigured: false }, false)
  t.equal(thumbprintOf({ status: 200, body: await (await fetch(url, { headers: { 'client-cert': clientCertHeader('client.crt') } })).text() }), null)
  t.equal(thumbprintOf({ status: 200, body: await (await fetch(url, { headers: { 'client-cert': 'garbage' } })).text() }), null, 'nor parsed')
  // Over TLS too: a header is no certificate unless the deployment says a proxy sets it.
  const tls = await thumbprintServer(t, { trustHeader: false, caConfigured: false })
  t.equal(thumbprintOf(await httpsGet(tls, { headers: { 'client-cert': clientCertHeader('client.crt') } })), null)
})

test('behind a trusted proxy: the Client-Cert header (RFC 9440), and only it', async t => {
  const url = await thumbprintServer(t, { trustHeader: true, caConfigured: false }, false)
  const get = async (value?: string | string[]): Promise<unknown> => {
    const headers = new Headers()
    for (const line of value === undefined ? [] : [value].flat()) headers.append('client-cert', line)
    const response = await fetch(url, { headers })
    return thumbprintOf({ status: response.status, body: await response.text() })
  }
  t.equal(await get(clientCertHeader('client.crt')), CLIENT, 'as openssl computes it')
  t.equal(await get(clientCertHeader('self-signed-client.crt')), SELF_SIGNED, 'the proxy vouches for it: no CA check here')
  t.equal(await get(clientCertHeader('client.crt').replace(/=+:$/, ':')), CLIENT, 'padding is optional (RFC 8941 section 4.2.7)')
  t.equal(await get(), null, 'absent')
  t.equal(await get(''), null, 'empty: as absent')

  const malformed = { status: 400, body: JSON.stringify({ error: 'AUTH_CLIENT_CERTIFICATE_MALFORMED', message: 'The Client-Cert header is not an RFC 9440 byte sequence holding one certificate' }) }
  const pem = fixture('client.crt').toString()
  for (const value of [
    pem.replace(/\n/g, ''), // PEM, not a Byte Sequence
    clientCertHeader('client.crt').slice(1), // no opening colon
    `${clientCertHeader('client.crt')};by=proxy`, // parameters: RFC 9440 allows none
    ':not base64!:',
    '::', // no bytes at all
    ':AB:', // bits left over that no byte holds
    ':AAAA==:', // padding where none belongs
    ':AA=:', // too little padding
    [clientCertHeader('client.crt'), clientCertHeader('self-signed-client.crt')] // two: which one?
  ]) {
    t.same(await get(value), malformed, String(value).slice(0, 40))
  }

  // The service's own TLS peer is the proxy: its certificate never stands for the client's.
  const tls = await thumbprintServer(t, { trustHeader: true, caConfigured: false })
  t.equal(thumbprintOf(await httpsGet(tls, { identity: identity('client') })), null)
  t.equal(thumbprintOf(await httpsGet(tls, { identity: identity('client'), headers: { 'client-cert': clientCertHeader('self-signed-client.crt') } })), SELF_SIGNED)
})
