// A token endpoint on 127.0.0.1 that the tests control: it counts requests, issues numbered tokens
// (at-1, at-2, ...), and can answer slowly, with any status and headers, never, or go down.
import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface TokenCall {
  readonly headers: IncomingHttpHeaders
  readonly form: URLSearchParams
  /** performance.now() when the request arrived. */
  readonly at: number
}

export interface Reply {
  readonly status?: number
  readonly headers?: Record<string, string>
  /** An object is sent as JSON, a string as it is. */
  readonly body?: unknown
  readonly delayMs?: number
}

/** The answer to the n-th token request (1-based), or 'hang' for none. */
export type Behaviour = (call: TokenCall, n: number) => Reply | 'hang'

/** Issues `at-<n>` for `expiresIn` seconds, with the scope asked for (none when none was). */
export function issue (expiresIn: number | undefined = 86_400, delayMs = 0): Behaviour {
  return (call, n) => ({
    delayMs,
    body: { access_token: `at-${n}`, token_type: 'Bearer', expires_in: expiresIn, scope: call.form.get('scope') ?? undefined }
  })
}

/** Answers with `replies` in turn (then with tokens), for the retry tests. */
export function sequence (...replies: Array<Reply | 'hang'>): Behaviour {
  const then = issue()
  return (call, n) => replies[n - 1] ?? then(call, n)
}

export class TokenServer {
  readonly calls: TokenCall[] = []
  discoveryFetches = 0
  behaviour: Behaviour = issue()
  /** The discovery document's answer; by default it names this server's /oauth/token. */
  discovery: Reply | 'hang' | undefined
  port = 0
  readonly #server: Server
  readonly #hanging = new Set<ServerResponse>()

  private constructor () {
    this.#server = createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        if (request.url === '/.well-known/openid-configuration') {
          this.discoveryFetches++
          this.#answer(response, this.discovery ?? { body: { issuer: this.issuer, token_endpoint: this.tokenEndpoint } })
        } else if (request.method === 'POST' && request.url === '/oauth/token') {
          const call = { headers: request.headers, form: new URLSearchParams(Buffer.concat(chunks).toString()), at: performance.now() }
          this.calls.push(call)
          this.#answer(response, this.behaviour(call, this.calls.length))
        } else {
          this.#answer(response, { status: 404, body: { error: 'not_found' } })
        }
      })
    })
  }

  static async start (port = 0): Promise<TokenServer> {
    const server = new TokenServer()
    await server.up(port)
    return server
  }

  get issuer (): string { return `http://127.0.0.1:${this.port}/` }
  get tokenEndpoint (): string { return `${this.issuer}oauth/token` }

  /** Listens (again, on the same port after down()). */
  async up (port = this.port): Promise<void> {
    this.#server.listen(port, '127.0.0.1')
    await once(this.#server, 'listening')
    this.port = (this.#server.address() as AddressInfo).port
  }

  /** Stops listening and drops every connection: an issuer outage. */
  async down (): Promise<void> {
    if (!this.#server.listening) return
    for (const response of this.#hanging) response.destroy()
    this.#hanging.clear()
    const closed = once(this.#server, 'close')
    this.#server.close()
    this.#server.closeAllConnections()
    await closed
  }

  #answer (response: ServerResponse, reply: Reply | 'hang'): void {
    if (reply === 'hang') {
      this.#hanging.add(response)
      return
    }
    const send = (): void => {
      const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {})
      response.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...reply.headers }).end(text)
    }
    if (reply.delayMs === undefined || reply.delayMs === 0) send()
    else setTimeout(send, reply.delayMs)
  }
}
