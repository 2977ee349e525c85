import { connect } from 'node:net'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
}

/**
 * Sends header lines as raw bytes (rawRequest writes UTF-8; this can send a lone latin1 byte or a
 * control character) and parses the answer. An answer without a body (HEAD) parses the same.
 */
export async function rawBytes (port: number, path: string, headerLines: Buffer[], method = 'GET'): Promise<RawResponse> {
  const crlf = Buffer.from('\r\n')
  const request = Buffer.concat([
    Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`),
    ...headerLines.flatMap(line => [line, crlf]),
    Buffer.from('Connection: close\r\n\r\n')
  ])
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => { socket.write(request) })
    let received = ''
    socket.on('data', chunk => { received += chunk.toString('latin1') })
    socket.on('end', () => resolve(received))
    socket.on('error', reject)
  })
  const [head, ...rest] = text.split('\r\n\r\n')
  const [statusLine, ...lines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') }
}

/** Sends a request exactly as written (duplicate headers, odd spacing) and parses the answer. */
export async function rawRequest (port: number, path: string, headerLines: string[]): Promise<RawResponse> {
  return await rawBytes(port, path, headerLines.map(line => Buffer.from(line)))
}
