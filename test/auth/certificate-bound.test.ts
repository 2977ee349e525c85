import type { AddressInfo } from 'node:net'
import { test, type Test } from 'tap'
import { startServer } from '../../src/server.js'
import { buildApp, envFor } from '../helpers/app.js'
import { KeyServer } from '../helpers/key-server.js'
import { fixture, fixturePath, httpsGet, identity, OPENSSL_THUMBPRINTS } from '../mtls/tls-client.js'

// Certificate-bound tokens (RFC 8705 section 3): a token whose cnf names a certificate's x5t#S256
// is accepted only with that certificate, over the service's own TLS or from a trusted proxy's
// RFC 9440 Client-Cert header. Thumbprints come from openssl (mtls-thumbprints.json), not our code.

const boundTo = (keys: KeyServer, thumbprint: string) => keys.sign(keys.claims({ cnf: { 'x5t#S256': thumbprint } }))
/** A PEM certificate as RFC 9440 sends it: `:` base64 DER `:`. */
const clientCertHeader = (name: string) => `:${Buffer.from(fixture(name).toString().replace(/-----[A-Z ]+-----|\s/g, ''), 'base64').toString('base64')}:`
const codeOf = (body: string) => (JSON.parse(body) as { code?: string }).code

async function appWithHeader (t: Test, trusted: boolean) {
  const keys = await KeyServer.start()
  const app = await buildApp(envFor(keys, { CLIENT_CERT_HEADER: String(trusted) }))
  t.teardown(async () => { await app.close(); await keys.close() })
  const call = (token: string, certificate?: string) => app.inject({
    url: '/api/private',
    headers: { authorization: `Bearer ${token}`, ...(certificate === undefined ? {} : { 'client-cert': certificate }) }
  })
  return { keys, call }
}

test('behind a trusted proxy: the Client-Cert header must hold the certificate the token names', async t => {
  const { keys, call } = await appWithHeader(t, true)
  const token = boundTo(keys, OPENSSL_THUMBPRINTS['client.crt'])
  t.equal((await call(token, clientCertHeader('client.crt'))).statusCode, 200)
  const none = await call(token)
  t.equal(none.statusCode, 401)
  t.equal(codeOf(none.body), 'AUTH_CLIENT_CERTIFICATE_REQUIRED')
  t.match(none.headers['www-authenticate'], /^Bearer realm="api", error="invalid_token", error_description="The access token is bound to a client certificate, and none was presented"/)
  const other = await call(token, clientCertHeader('self-signed-client.crt'))
  t.equal(codeOf(other.body), 'AUTH_CLIENT_CERTIFICATE_MISMATCH')
  const malformed = await call(token, 'not a byte sequence')
  t.equal(malformed.statusCode, 400)
  t.equal(codeOf(malformed.body), 'AUTH_CLIENT_CERTIFICATE_MALFORMED')
  t.equal((await call(keys.sign(keys.claims()), 'not a byte sequence')).statusCode, 200, 'a bearer token needs no certificate, so the header is not read')
})

test('without CLIENT_CERT_HEADER, a Client-Cert header a caller sets is never believed', async t => {
  const { keys, call } = await appWithHeader(t, false)
  const token = boundTo(keys, OPENSSL_THUMBPRINTS['client.crt'])
  const response = await call(token, clientCertHeader('client.crt'))
  t.equal(response.statusCode, 401)
  t.equal(codeOf(response.body), 'AUTH_CLIENT_CERTIFICATE_REQUIRED')
})

test('over the service\'s own TLS: the certificate of the handshake, verified against TLS_CLIENT_CA when set', async t => {
  const keys = await KeyServer.start()
  t.teardown(() => keys.close())
  const serve = async (extra: Record<string, string>) => {
    const server = await startServer({
      env: { ...envFor(keys), PORT: '0', LOG_LEVEL: 'silent', TLS_CERT: fixturePath('mtls-server.crt'), TLS_KEY: fixturePath('mtls-server.key'), ...extra }
    })
    t.teardown(() => server.close())
    return `https://localhost:${(server.server.address() as AddressInfo).port}/api/private`
  }
  const selfSignedBound = boundTo(keys, OPENSSL_THUMBPRINTS['self-signed-client.crt'])
  const url = await serve({})
  const get = (token: string, who?: 'client' | 'self-signed-client') =>
    httpsGet(url, { headers: { authorization: `Bearer ${token}` }, identity: who === undefined ? undefined : identity(who) })
  t.equal((await get(selfSignedBound, 'self-signed-client')).status, 200, 'a self-signed certificate binds (RFC 8705 section 2.2)')
  t.equal(codeOf((await get(selfSignedBound)).body), 'AUTH_CLIENT_CERTIFICATE_REQUIRED')
  t.equal(codeOf((await get(selfSignedBound, 'client')).body), 'AUTH_CLIENT_CERTIFICATE_MISMATCH')
  t.equal((await get(keys.sign(keys.claims()))).status, 200, 'bearer tokens need no certificate')

  const withCa = await serve({ TLS_CLIENT_CA: fixturePath('client-ca.crt') })
  const caGet = (token: string, who: 'client' | 'self-signed-client') => httpsGet(withCa, { headers: { authorization: `Bearer ${token}` }, identity: identity(who) })
  t.equal((await caGet(boundTo(keys, OPENSSL_THUMBPRINTS['client.crt']), 'client')).status, 200, 'a certificate the CA issued')
  t.equal(codeOf((await caGet(selfSignedBound, 'self-signed-client')).body), 'AUTH_CLIENT_CERTIFICATE_REQUIRED', 'with a CA, a self-signed one does not count')
})
