import type { PeerCertificate, TLSSocket } from 'node:tls'
import type { FastifyRequest } from 'fastify'
import { MalformedCertificateHeader } from '../auth/errors.js'
import { certificateThumbprint } from './certificate-thumbprint.js'

/** Where a request's client certificate may come from, as the service is deployed. */
export interface ClientCertificateSources {
  /**
   * CLIENT_CERT_HEADER=true: a TLS-terminating proxy in front sets RFC 9440 `Client-Cert` and
   * strips any a client sent. The header is then the only source: the service's own TLS peer is
   * the proxy, whose certificate (if it presents one) must never stand for a client's.
   */
  trustHeader: boolean
  /** TLS_CLIENT_CA is set: only a certificate the TLS handshake verified against it counts. */
  caConfigured: boolean
}

/**
 * The x5t#S256 (RFC 8705 section 3.1) of the client certificate presented with this request, or
 * undefined when there is none that counts. Throws MalformedCertificateHeader (400) only for a trusted
 * header that cannot be parsed (never when `trustHeader` is false: the header is then unread).
 */
export function presentedCertificateThumbprint (
  request: Pick<FastifyRequest, 'raw' | 'headers'>,
  { trustHeader, caConfigured }: ClientCertificateSources
): string | undefined {
  if (trustHeader) return headerThumbprint(request.headers['client-cert'])
  const socket = request.raw.socket as Partial<TLSSocket>
  // Plain http: no certificate. (`encrypted` is set on TLS sockets only.)
  if (socket.encrypted !== true) return undefined
  const tls = socket as TLSSocket
  // Without a CA any certificate counts (RFC 8705 section 2.2, self-signed binding): the TLS
  // handshake proved the client holds its key, which is all the binding needs.
  if (caConfigured && !tls.authorized) return undefined
  return socketThumbprint(tls)
}

/**
 * One certificate per connection (renegotiation is off: tls-options.ts), so keep-alive requests
 * hash it once. null: the connection presented none.
 */
const bySocket = new WeakMap<TLSSocket, string | null>()

function socketThumbprint (socket: TLSSocket): string | undefined {
  let thumbprint = bySocket.get(socket)
  if (thumbprint === undefined) {
    // An empty object when the client sent no certificate; null once the socket is gone.
    const der = (socket.getPeerCertificate(false) as Partial<PeerCertificate> | null)?.raw
    thumbprint = der === undefined ? null : certificateThumbprint(der)
    bySocket.set(socket, thumbprint)
  }
  return thumbprint ?? undefined
}

/** RFC 8941 section 3.3.5: `:`, base64 (padding optional, section 4.2.7), `:`. No parameters. */
const BYTE_SEQUENCE = /^:([A-Za-z0-9+/]*)(={0,2}):$/

function headerThumbprint (value: string | string[] | undefined): string | undefined {
  // Absent, or empty (RFC 9440 section 2.2: a proxy omits it when there is no certificate; an
  // empty value means the same). Node joins repeated lines into one string, never an array, here.
  if (typeof value !== 'string' || value === '') return undefined
  const match = BYTE_SEQUENCE.exec(value)
  if (match === null) throw new MalformedCertificateHeader()
  const [, data, padding] = match
  const der = Buffer.from(data, 'base64')
  // Buffer.from ignores what it cannot decode: only bytes that re-encode to the same text count.
  const canonical = der.toString('base64')
  if (der.length === 0 || canonical.replace(/=+$/, '') !== data || (padding !== '' && canonical !== data + padding)) {
    throw new MalformedCertificateHeader()
  }
  return certificateThumbprint(der)
}
