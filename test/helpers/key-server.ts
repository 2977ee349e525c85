import { generateKeyPairSync, randomUUID, sign as cryptoSign, type KeyObject } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createSigner } from 'fast-jwt'

/** How the key server answers the JWKS request; tests switch it to inject faults. */
export type JwksBehaviour = 'ok' | 'hang' | 'error' | 'garbage' | 'empty' | 'redirect' | 'huge' | 'slow-body'

export interface TestKey {
  kid: string
  alg: string
  privateKey: KeyObject
  publicJwk: Record<string, unknown>
}

export type KeyType = 'RSA' | 'EC' | 'Ed25519'

export function makeKey (type: KeyType = 'RSA', kid: string = randomUUID(), alg?: string): TestKey {
  const pair = type === 'RSA'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : type === 'EC'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('ed25519')
  const algorithm = alg ?? (type === 'RSA' ? 'RS256' : type === 'EC' ? 'ES256' : 'EdDSA')
  return { kid, alg: algorithm, privateKey: pair.privateKey, publicJwk: { ...pair.publicKey.export({ format: 'jwk' }), kid, alg: algorithm, use: 'sig' } }
}

export interface SignOptions {
  key?: TestKey
  header?: Record<string, unknown>
  /** Omit these standard claims. */
  without?: string[]
}

/**
 * A real issuer on 127.0.0.1: OIDC discovery, a JWKS, and a signer for real tokens. Tests can
 * rotate and remove keys, make it misbehave, and count what it was asked.
 */
export class KeyServer {
  keys: TestKey[] = []
  /** Keys the JWKS publishes; defaults to all keys. */
  published: TestKey[] | undefined
  behaviour: JwksBehaviour = 'ok'
  /** 'ok' names this issuer and its jwksUri; a document (or null) is served as given. */
  discovery: 'ok' | 'missing' | Record<string, unknown> | null = 'ok'
  /** Where the JWKS is served; the discovery document points there. */
  jwksPath = '/.well-known/jwks.json'
  /** Every answer (discovery and key set) waits this long first. */
  delayMs = 0
  jwksFetches = 0
  discoveryFetches = 0
  readonly requests: string[] = []
  #server: Server | undefined
  #hanging = new Set<ServerResponse>()
  port = 0

  get issuer (): string { return `http://127.0.0.1:${this.port}/` }
  get jwksUri (): string { return `${this.issuer}${this.jwksPath.slice(1)}` }
  get audience (): string { return 'https://api.example.test' }

  static async start (keys: TestKey[] = [makeKey()]): Promise<KeyServer> {
    const server = new KeyServer()
    server.keys = keys
    await server.#listen()
    return server
  }

  async #listen (): Promise<void> {
    this.#server = createServer((request, response) => {
      if (this.delayMs === 0) this.#handle(request, response)
      else setTimeout(() => { this.#handle(request, response) }, this.delayMs)
    })
    await new Promise<void>(resolve => this.#server?.listen(0, '127.0.0.1', resolve))
    this.port = (this.#server.address() as AddressInfo).port
  }

  #handle (request: IncomingMessage, response: ServerResponse): void {
    this.requests.push(request.url ?? '')
    if (request.url === '/.well-known/openid-configuration') {
      this.discoveryFetches++
      if (this.discovery === 'missing') return void response.writeHead(404).end()
      const document = this.discovery === 'ok' ? { issuer: this.issuer, jwks_uri: this.jwksUri } : this.discovery
      return void response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(document))
    }
    if (request.url === this.jwksPath) {
      this.jwksFetches++
      return this.#answerJwks(response)
    }
    response.writeHead(404).end()
  }

  #answerJwks (response: ServerResponse): void {
    const json = { 'content-type': 'application/json' }
    switch (this.behaviour) {
      case 'hang':
        this.#hanging.add(response)
        return
      case 'error':
        return void response.writeHead(500, json).end('{"error":"boom"}')
      case 'garbage':
        return void response.writeHead(200, json).end('<html>not json')
      case 'empty':
        return void response.writeHead(200, json).end('{"keys":[]}')
      case 'redirect':
        return void response.writeHead(302, { location: 'http://127.0.0.1:1/evil' }).end()
      case 'huge':
        return void response.writeHead(200, json).end(JSON.stringify({ keys: [], padding: 'x'.repeat(2 * 1024 * 1024) }))
      case 'slow-body':
        response.writeHead(200, json)
        response.write('{"keys":')
        this.#hanging.add(response)
        return
      default:
        response.writeHead(200, json).end(JSON.stringify({ keys: (this.published ?? this.keys).map(key => key.publicJwk) }))
    }
  }

  /** A real signed token; claims default to a valid one for this issuer and audience. */
  sign (claims: Record<string, unknown> = {}, { key = this.keys[0], header = {}, without = [] }: SignOptions = {}): string {
    const now = Math.floor(Date.now() / 1000)
    const payload: Record<string, unknown> = { iss: this.issuer, aud: this.audience, sub: 'client@clients', iat: now, exp: now + 3600, ...claims }
    for (const name of without) delete payload[name]
    const signer = createSigner({ key: key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, algorithm: key.alg as 'RS256', kid: key.kid, header: header as { alg: 'RS256' }, noTimestamp: true })
    return signer(payload)
  }

  /** Signs any header and payload as given (RS256 over the key), for claims a JWT library would refuse to sign. */
  signRaw (payload: Record<string, unknown>, { key = this.keys[0], header = {} }: SignOptions = {}): string {
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
    const input = `${encode({ alg: 'RS256', typ: 'JWT', kid: key.kid, ...header })}.${encode(payload)}`
    return `${input}.${cryptoSign('sha256', Buffer.from(input), key.privateKey).toString('base64url')}`
  }

  /** A valid payload for this issuer, to alter before signRaw. */
  claims (extra: Record<string, unknown> = {}): Record<string, unknown> {
    const now = Math.floor(Date.now() / 1000)
    return { iss: this.issuer, aud: this.audience, sub: 'client@clients', iat: now, exp: now + 3600, ...extra }
  }

  async close (): Promise<void> {
    for (const response of this.#hanging) response.destroy()
    this.#server?.closeAllConnections()
    await new Promise(resolve => this.#server?.close(resolve))
  }
}
