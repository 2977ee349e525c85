/** Why a fetch from the issuer failed, in words safe to log and to show on /health/ready. */
export class IssuerFetchError extends Error {
  constructor (readonly url: string, reason: string, readonly status?: number) {
    super(`${url}: ${reason}`)
    this.name = 'IssuerFetchError'
  }
}

export interface FetchLimits {
  timeoutMs: number
  maxBytes: number
  /** Ends the fetch early (the key set closing), so a hung issuer cannot hold the process open. */
  signal?: AbortSignal
}

/**
 * GETs a JSON document from the issuer with every bound a hostile or broken server calls for:
 * one deadline for the whole exchange (headers and body), no redirects, a size cap enforced while
 * reading. Never includes the response body in an error.
 */
export async function fetchJson (url: string, { timeoutMs, maxBytes, signal: cancel }: FetchLimits): Promise<unknown> {
  const deadline = AbortSignal.timeout(timeoutMs)
  const signal = cancel === undefined ? deadline : AbortSignal.any([deadline, cancel])
  /** Why the exchange stopped when it was aborted, or undefined when it was not. */
  const aborted = (): string | undefined => deadline.aborted
    ? `no response within ${timeoutMs} ms`
    : signal.aborted ? 'the fetch was cancelled' : undefined
  let response: Response
  try {
    response = await fetch(url, { signal, redirect: 'manual', headers: { accept: 'application/json' } })
  } catch (error) {
    throw new IssuerFetchError(url, aborted() ?? `unreachable (${causeCode(error)})`)
  }
  try {
    if (response.status !== 200) {
      throw new IssuerFetchError(url, response.status >= 300 && response.status < 400
        ? `answered a redirect (${response.status}), which is not followed`
        : `answered HTTP ${response.status}`, response.status)
    }
    const declared = Number(response.headers.get('content-length'))
    if (declared > maxBytes) throw new IssuerFetchError(url, `response larger than ${maxBytes} bytes`)
    const text = await readCapped(url, response, maxBytes, aborted)
    try {
      return JSON.parse(text)
    } catch {
      throw new IssuerFetchError(url, 'response is not valid JSON')
    }
  } finally {
    // Frees the socket when we stop early; a no-op once the body was read.
    await response.body?.cancel().catch(() => {})
  }
}

async function readCapped (url: string, response: Response, maxBytes: number, aborted: () => string | undefined): Promise<string> {
  const decoder = new TextDecoder('utf-8', { fatal: false })
  let received = 0
  let text = ''
  try {
    // Node 20 always gives a 200 response a body stream.
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      received += chunk.byteLength
      if (received > maxBytes) throw new IssuerFetchError(url, `response larger than ${maxBytes} bytes`)
      text += decoder.decode(chunk, { stream: true })
    }
  } catch (error) {
    if (error instanceof IssuerFetchError) throw error
    throw new IssuerFetchError(url, aborted() ?? `response cut off (${causeCode(error)})`)
  }
  return text + decoder.decode()
}

function causeCode (error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } }).cause
  return typeof cause?.code === 'string' ? cause.code : 'network error'
}
