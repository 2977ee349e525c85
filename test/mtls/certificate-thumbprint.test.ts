import { X509Certificate } from 'node:crypto'
import { test } from 'tap'
import { certificateThumbprint, pemCertificateThumbprint } from '../../src/mtls/certificate-thumbprint.js'
import { fixture, OPENSSL_THUMBPRINTS } from './tls-client.js'

test('the x5t#S256 of a certificate is the base64url SHA-256 of its DER, as openssl has it', async t => {
  for (const name of ['client.crt', 'self-signed-client.crt'] as const) {
    const pem = fixture(name).toString()
    t.equal(pemCertificateThumbprint(pem), OPENSSL_THUMBPRINTS[name], name)
    t.equal(certificateThumbprint(new X509Certificate(pem).raw), OPENSSL_THUMBPRINTS[name], name)
  }
  t.throws(() => pemCertificateThumbprint('not a certificate'))
})
