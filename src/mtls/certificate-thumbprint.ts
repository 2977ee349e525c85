import { createHash, X509Certificate } from 'node:crypto'

/**
 * RFC 8705 section 3.1: the `x5t#S256` of a certificate, the base64url SHA-256 of its DER
 * encoding: what a certificate-bound token's `cnf` names.
 */
export function certificateThumbprint (der: Buffer): string {
  return createHash('sha256').update(der).digest('base64url')
}

/** The thumbprint of the first certificate in a PEM text; throws when there is none. */
export function pemCertificateThumbprint (pem: string): string {
  return certificateThumbprint(new X509Certificate(pem).raw)
}
