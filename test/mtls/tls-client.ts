import { readFileSync } from 'node:fs'
import { Agent, request } from 'node:https'
import type { TLSSocket } from 'node:tls'
import { fileURLToPath } from 'node:url'

/** The path of a file in test/fixtures/tls. */
export function fixturePath (name: string): string {
  return fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url))
}

export function fixture (name: string): Buffer {
  return readFileSync(fixturePath(name))
}

/** Each client certificate's x5t#S256, as openssl computed it (generate-mtls.sh). */
export const OPENSSL_THUMBPRINTS = JSON.parse(fixture('mtls-thumbprints.json').toString()) as Record<'client.crt' | 'self-signed-client.crt', string>

/** A client identity from the fixtures: `client` (CA-issued) or `self-signed-client`. */
export function identity (name: 'client' | 'self-signed-client'): { cert: Buffer, key: Buffer } {
  return { cert: fixture(`${name}.crt`), key: fixture(`${name}.key`) }
}

export interface HttpsGet {
  /** The client certificate and key to present, if any. */
  identity?: { cert: Buffer, key: Buffer }
  headers?: Record<string, string>
  agent?: Agent
}

export interface HttpsAnswer { status: number, body: string, sessionReused: boolean }

/** GET over https, trusting only the fixture server certificate. */
export async function httpsGet (url: string, { identity, headers, agent }: HttpsGet = {}): Promise<HttpsAnswer> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { ca: fixture('mtls-server.crt'), ...identity, headers, agent: agent ?? false }, response => {
      // Read now: a keep-alive agent takes the socket back once the response ends.
      const sessionReused = (response.socket as TLSSocket).isSessionReused()
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { body += chunk })
      response.on('end', () => { resolve({ status: response.statusCode ?? 0, body, sessionReused }) })
    })
    req.on('error', reject)
    req.end()
  })
}
