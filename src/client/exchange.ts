import { IssuerUnreachableError } from './errors.js'

// One HTTP exchange with the issuer through Node's global fetch, bounded by a timeout.

export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

/**
 * Sends `init` to `url` and reads the whole answer within `timeoutMs` (headers and body). Redirects
 * are not followed: a 307 from a token endpoint would repeat the POST, secret included, to wherever
 * it points; the 3xx comes back as the answer instead. No answer at all is an IssuerUnreachableError.
 */
export async function exchange (url: string, init: RequestInit, timeoutMs: number): Promise<Answer> {
  try {
    const response = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) })
    return { status: response.status, headers: response.headers, text: await response.text() }
  } catch (error) {
    throw new IssuerUnreachableError(url, reasonOf(error))
  }
}

/** `ECONNREFUSED` and the like from fetch's cause, else the error's own message (a timeout's). */
function reasonOf (error: unknown): string {
  const { cause, message } = error as Error & { cause?: { code?: unknown } }
  return typeof cause?.code === 'string' ? cause.code : message
}

/** The answer's JSON object, or undefined when it is not one. */
export function jsonObject (text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}
