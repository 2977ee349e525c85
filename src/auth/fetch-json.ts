import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http'
import { request as httpsRequest } from 'node:https'

/** Why a fetch from the issuer failed, in words safe to log and to show on /health/ready. */
export class IssuerFetchError extends Error {
  constructor (readonly url: string, reason: string, readonly status?: number) {
    super(`${url}: ${reason}`)
    this.name = 'IssuerFetchError'
  }
}

export interface FetchLimits {
  /** How long the exchange may take; with `deadline`, how long the caller's whole load may. */
  timeoutMs: number
  /** A deadline the caller shares across several fetches (AbortSignal.timeout(timeoutMs)); by default each fetch has its own. */
  deadline?: AbortSignal
  maxBytes: number
  /** Ends the fetch early (the key set closing), so a hung issuer cannot hold the process open. */
  signal?: AbortSignal
}

/**
 * GETs a JSON document from the issuer with every bound a hostile or broken server calls for:
 * one deadline for the whole exchange (headers and body), no redirects, no content coding (so no
 * decompression bomb), a size cap enforced while reading. Never includes the response body in an
 * error. Built on node:http rather than fetch(): the service's server already loads it, while
 * fetch's undici costs about 15 MB of resident memory for a request made every few minutes.
 */
export async function fetchJson (url: string, { timeoutMs, maxBytes, signal: cancel, deadline = AbortSignal.timeout(timeoutMs) }: FetchLimits): Promise<unknown> {
  const signal = cancel === undefined ? deadline : AbortSignal.any([deadline, cancel])
  /** Why the exchange stopped when it was aborted, or undefined when it was not. */
  const aborted = (): string | undefined => deadline.aborted
    ? `no response within ${timeoutMs} ms`
    : signal.aborted ? 'the fetch was cancelled' : undefined
  const text = await new Promise<string>((resolve, reject) => {
    const options: RequestOptions = {
      signal,
      // A fresh connection each time: these fetches are minutes apart, and none is left open.
      agent: false,
      headers: { accept: 'application/json', 'accept-encoding': 'identity' }
    }
    let request: ClientRequest
    let responded = false
    const fail = (reason: string, status?: number): void => {
      reject(new IssuerFetchError(url, reason, status))
      request.destroy()
    }
    const unreachable = (error: unknown): void => { reject(new IssuerFetchError(url, aborted() ?? `unreachable (${codeOf(error)})`)) }
    const onResponse = (response: IncomingMessage): void => {
      responded = true
      const refusal = refuse(response, maxBytes)
      if (refusal !== undefined) {
        fail(refusal, response.statusCode)
        return
      }
      const chunks: Buffer[] = []
      let received = 0
      response.on('data', (chunk: Buffer) => {
        received += chunk.length
        if (received > maxBytes) fail(`response larger than ${maxBytes} bytes`)
        else chunks.push(chunk)
      })
      response.on('end', () => { resolve(Buffer.concat(chunks).toString('utf8')) })
      response.on('error', error => { fail(aborted() ?? `response cut off (${codeOf(error)})`) })
    }
    try {
      request = (new URL(url).protocol === 'https:' ? httpsRequest : httpRequest)(url, options, onResponse)
    } catch (error) {
      // An address no client can use (another protocol): as unreachable as a refused connection.
      unreachable(error)
      return
    }
    request.on('error', error => { if (!responded) unreachable(error) })
    // A 101 never reaches onResponse: without this, Node drops the socket and nothing settles.
    request.on('upgrade', (_response, socket) => {
      socket.destroy()
      fail('answered 101 (a protocol upgrade), which is not followed', 101)
    })
    // Whatever else ends the exchange without an answer or an error settles it too (a no-op otherwise).
    request.on('close', () => {
      if (!responded) reject(new IssuerFetchError(url, aborted() ?? 'closed the connection without an answer'))
    })
    request.end()
  })
  try {
    return JSON.parse(text)
  } catch {
    throw new IssuerFetchError(url, 'response is not valid JSON')
  }
}

/** Why a response is refused before its body is read, if it is. */
function refuse (response: IncomingMessage, maxBytes: number): string | undefined {
  const status = response.statusCode as number
  if (status >= 300 && status < 400) return `answered a redirect (${status}), which is not followed`
  if (status !== 200) return `answered HTTP ${status}`
  const coding = response.headers['content-encoding']
  // The coding is not named: a header the issuer chose goes no further than the body does.
  if (coding !== undefined && coding !== 'identity') return 'answered compressed, which was not asked for'
  if (Number(response.headers['content-length']) > maxBytes) return `response larger than ${maxBytes} bytes`
  return undefined
}

/** The error's code (ECONNREFUSED, ECONNRESET, a TLS verdict...): what an operator can act on. */
function codeOf (error: unknown): string {
  const { code = 'network error' } = error as { code?: string }
  return code
}
