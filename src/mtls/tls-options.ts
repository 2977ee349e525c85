import { constants, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import { ConfigError } from '../config.js'
import type { TlsVariables } from './tls-variables.js'

/** Node https server options, as Fastify's `https` option takes them. */
export interface TlsServerOptions {
  key: Buffer
  cert: Buffer
  /** TLS_CLIENT_CA: when set, only client certificates it issued count (`socket.authorized`). */
  ca?: Buffer
  /** Clients may present a certificate (RFC 8705), which self-signed binding needs no CA for... */
  requestCert: true
  /** ...but need not: bearer routes still serve clients without one. */
  rejectUnauthorized: false
  /**
   * No TLS 1.2 renegotiation: a connection keeps the certificate it started with, so the
   * per-connection thumbprint cache (client-certificate.ts) never goes stale.
   */
  secureOptions: number
}

/**
 * The https options from TLS_CERT, TLS_KEY and TLS_CLIENT_CA, or undefined when TLS is off.
 * Every mistake is one ConfigError naming the variable; a key's contents never reach it.
 */
export function tlsServerOptions (variables: TlsVariables): TlsServerOptions | undefined {
  const { TLS_CERT, TLS_KEY, TLS_CLIENT_CA } = variables
  if (TLS_CERT === undefined && TLS_KEY === undefined) {
    if (TLS_CLIENT_CA !== undefined) throw new ConfigError('TLS_CLIENT_CA', 'is set, but TLS_CERT and TLS_KEY are not: client certificates need the service to speak TLS')
    return undefined
  }
  if (TLS_KEY === undefined) throw new ConfigError('TLS_KEY', 'is required with TLS_CERT: set it to the PEM file of the certificate\'s private key')
  if (TLS_CERT === undefined) throw new ConfigError('TLS_CERT', 'is required with TLS_KEY: set it to the PEM file of the service\'s certificate (chain)')

  const cert = readCertificates('TLS_CERT', TLS_CERT)
  const key = readFile('TLS_KEY', TLS_KEY)
  if (!cert.leaf.checkPrivateKey(privateKey(TLS_KEY, key))) {
    throw new ConfigError('TLS_KEY', `(${TLS_KEY}) is not the private key of the certificate in TLS_CERT`)
  }
  const ca = TLS_CLIENT_CA === undefined ? undefined : readCertificates('TLS_CLIENT_CA', TLS_CLIENT_CA).pem

  const options: TlsServerOptions = {
    key,
    cert: cert.pem,
    ...(ca === undefined ? {} : { ca }),
    requestCert: true,
    rejectUnauthorized: false,
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION
  }
  // What only OpenSSL itself checks (a key too weak for its security level): a ConfigError now
  // rather than an OpenSSL error thrown from the Fastify constructor. Its messages quote no key.
  try {
    createSecureContext(options)
  } catch (error) {
    throw new ConfigError('TLS_CERT', `(${TLS_CERT}) cannot be used for TLS: ${(error as Error).message}`)
  }
  return options
}

function readFile (variable: string, path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (error) {
    throw new ConfigError(variable, `cannot be read (${path}): ${String((error as NodeJS.ErrnoException).code)}`)
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g

/** A file of PEM certificates (Node's TLS takes PEM only), each parsed; `leaf` is the first. */
function readCertificates (variable: string, path: string): { pem: Buffer, leaf: X509Certificate } {
  const pem = readFile(variable, path)
  const blocks = pem.toString('latin1').match(PEM_CERTIFICATE) ?? []
  try {
    const [leaf] = blocks.map(block => new X509Certificate(block))
    if (leaf === undefined) throw new Error('no certificate')
    return { pem, leaf }
  } catch {
    throw new ConfigError(variable, `(${path}) is not a PEM certificate file (-----BEGIN CERTIFICATE-----)`)
  }
}

function privateKey (path: string, pem: Buffer): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' })
  } catch {
    // Node's message may quote the failing decoder, never the key; ours says what to do instead.
    throw new ConfigError('TLS_KEY', `(${path}) is not an unencrypted PEM private key`)
  }
}
