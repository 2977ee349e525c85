// x5t#S256 (RFC 8705 section 3.1) of the fixture certificates, against what openssl computed for
// them (`openssl x509 -fingerprint -sha256`, in mtls-thumbprints.json) when they were made.
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { certificateThumbprint, pemCertificateThumbprint } from '../../src/mtls/certificate-thumbprint.js'

const TLS = fileURLToPath(new URL('../fixtures/tls/', import.meta.url))
const OPENSSL = JSON.parse(readFileSync(join(TLS, 'mtls-thumbprints.json'), 'utf8')) as Record<string, string>

t.test('PEM and DER give openssl\'s SHA-256 fingerprint, base64url without padding', async t => {
  for (const [file, expected] of Object.entries(OPENSSL)) {
    const pem = readFileSync(join(TLS, file), 'utf8')
    t.equal(pemCertificateThumbprint(pem), expected, `${file} from PEM`)
    // DER straight from the PEM's base64, without Node's certificate parser.
    const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64')
    t.equal(certificateThumbprint(der), expected, `${file} from DER`)
    t.match(expected, /^[\w-]{43}$/, 'base64url, no padding')
    // The same digest as openssl's colon-separated hex form.
    t.equal(Buffer.from(expected, 'base64url').toString('hex').toUpperCase(), new X509Certificate(pem).fingerprint256.replaceAll(':', ''))
  }
})

t.test('a PEM chain gives the first certificate\'s thumbprint; anything else throws', async t => {
  const chain = readFileSync(join(TLS, 'client.crt'), 'utf8') + readFileSync(join(TLS, 'client-ca.crt'), 'utf8')
  t.equal(pemCertificateThumbprint(chain), OPENSSL['client.crt'])
  t.throws(() => pemCertificateThumbprint(readFileSync(join(TLS, 'client.key'), 'utf8')))
  t.throws(() => pemCertificateThumbprint('not a certificate'))
})
