import { generateKeyPairSync } from 'node:crypto'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { connect, createServer, type TlsOptions } from 'node:tls'
import { test } from 'tap'
import { ConfigError, describeConfigError } from '../../src/config.js'
import { tlsServerOptions } from '../../src/mtls/tls-options.js'
import type { TlsVariables } from '../../src/mtls/tls-variables.js'
import { fixture, fixturePath } from './tls-client.js'

const CERT = fixturePath('mtls-server.crt')
const KEY = fixturePath('mtls-server.key')
const CA = fixturePath('client-ca.crt')

/** The one line start-up prints for these variables, or the options when they are fine. */
function problem (variables: TlsVariables): string {
  try {
    tlsServerOptions(variables)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    return describeConfigError(error) as string
  }
  return 'no problem'
}

test('no TLS variables: plain http', async t => {
  t.equal(tlsServerOptions({}), undefined)
})

test('the https options: client certificates requested, not required; no renegotiation', async t => {
  const withoutCa = tlsServerOptions({ TLS_CERT: CERT, TLS_KEY: KEY })
  t.match(withoutCa, { key: fixture('mtls-server.key'), cert: fixture('mtls-server.crt'), requestCert: true, rejectUnauthorized: false })
  t.notOk(withoutCa !== undefined && 'ca' in withoutCa, 'no ca: any client certificate is taken (self-signed binding)')
  t.match(tlsServerOptions({ TLS_CERT: CERT, TLS_KEY: KEY, TLS_CLIENT_CA: CA }), { ca: fixture('client-ca.crt'), requestCert: true, rejectUnauthorized: false })
})

test('each mistake is one line naming the variable', async t => {
  const dir = t.testdir({
    'garbage.pem': 'not a certificate',
    'corrupt.crt': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    'encrypted.key': generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'test-only' },
      publicKeyEncoding: { type: 'spki', format: 'pem' }
    }).privateKey
  })
  const at = (name: string): string => join(dir, name)
  const missing = at('missing.pem')
  const cases: Array<[TlsVariables, string]> = [
    [{ TLS_CLIENT_CA: CA }, 'TLS_CLIENT_CA is set, but TLS_CERT and TLS_KEY are not: client certificates need the service to speak TLS'],
    [{ TLS_CERT: CERT }, 'TLS_KEY is required with TLS_CERT: set it to the PEM file of the certificate\'s private key'],
    [{ TLS_KEY: KEY, TLS_CLIENT_CA: CA }, 'TLS_CERT is required with TLS_KEY: set it to the PEM file of the service\'s certificate (chain)'],
    [{ TLS_CERT: missing, TLS_KEY: KEY }, `TLS_CERT cannot be read (${missing}): ENOENT`],
    [{ TLS_CERT: at('garbage.pem'), TLS_KEY: KEY }, `TLS_CERT (${at('garbage.pem')}) is not a PEM certificate file (-----BEGIN CERTIFICATE-----)`],
    [{ TLS_CERT: at('corrupt.crt'), TLS_KEY: KEY }, `TLS_CERT (${at('corrupt.crt')}) is not a PEM certificate file (-----BEGIN CERTIFICATE-----)`],
    [{ TLS_CERT: KEY, TLS_KEY: KEY }, `TLS_CERT (${KEY}) is not a PEM certificate file (-----BEGIN CERTIFICATE-----)`],
    [{ TLS_CERT: CERT, TLS_KEY: dir }, `TLS_KEY cannot be read (${dir}): EISDIR`],
    [{ TLS_CERT: CERT, TLS_KEY: CERT }, `TLS_KEY (${CERT}) is not an unencrypted PEM private key`],
    [{ TLS_CERT: CERT, TLS_KEY: at('encrypted.key') }, `TLS_KEY (${at('encrypted.key')}) is not an unencrypted PEM private key`],
    [{ TLS_CERT: CERT, TLS_KEY: fixturePath('client.key') }, `TLS_KEY (${fixturePath('client.key')}) is not the private key of the certificate in TLS_CERT`],
    [{ TLS_CERT: CERT, TLS_KEY: fixturePath('weak-rsa512.key') }, `TLS_KEY (${fixturePath('weak-rsa512.key')}) is not the private key of the certificate in TLS_CERT`],
    [{ TLS_CERT: CERT, TLS_KEY: KEY, TLS_CLIENT_CA: missing }, `TLS_CLIENT_CA cannot be read (${missing}): ENOENT`],
    [{ TLS_CERT: CERT, TLS_KEY: KEY, TLS_CLIENT_CA: at('garbage.pem') }, `TLS_CLIENT_CA (${at('garbage.pem')}) is not a PEM certificate file (-----BEGIN CERTIFICATE-----)`],
    [{ TLS_CERT: fixturePath('weak-rsa512.crt'), TLS_KEY: fixturePath('weak-rsa512.key') },
      `TLS_CERT (${fixturePath('weak-rsa512.crt')}) cannot be used for TLS: error:0A00018F:SSL routines::ee key too small`]
  ]
  for (const [variables, line] of cases) {
    const printed = problem(variables)
    t.equal(printed, `Configuration error: ${line}`, line.slice(0, 60))
    t.notMatch(printed, /\n|PRIVATE KEY|MI[GH]/, 'one line, no key material')
  }
})

/** Whether a TLS 1.2 client can renegotiate with a server built from these options. */
async function renegotiates (options: TlsOptions): Promise<boolean> {
  const server = createServer(options, socket => { socket.on('error', () => {}); socket.resume() })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  try {
    const socket = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', ca: fixture('mtls-server.crt'), servername: 'localhost', maxVersion: 'TLSv1.2' })
    await once(socket, 'secureConnect')
    const renegotiated = await new Promise<boolean>(resolve => {
      // Refused, the server answers with an alert: the client sees it as an error on its next read.
      socket.on('error', () => { resolve(false) })
      socket.renegotiate({ rejectUnauthorized: false }, error => { resolve(error === null) })
      socket.write('after renegotiation')
    })
    socket.destroy()
    return renegotiated
  } finally {
    server.close()
  }
}

test('a connection keeps its certificate: TLS 1.2 renegotiation is refused', async t => {
  const options = tlsServerOptions({ TLS_CERT: CERT, TLS_KEY: KEY }) as TlsOptions
  t.equal(await renegotiates({ ...options, secureOptions: 0 }), true, 'Node allows it by default')
  t.equal(await renegotiates(options), false)
})
