import type { RoutePolicy } from '../auth/route-policy.js'
import * as rejections from '../auth/errors.js'

/** The JSON Schema of `ErrorBody` (src/error-body.ts), the body of every rejection. */
export const errorBodySchema = {
  type: 'object',
  required: ['statusCode', 'error', 'code', 'message'],
  additionalProperties: false,
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string', description: 'The HTTP reason phrase' },
    code: { type: 'string', description: 'Stable reason code, for programs' },
    message: { type: 'string', description: 'What is wrong, for people; never echoes the token' }
  }
} as const

/** Every rejection code the auth layer can answer with, by status: read from the error classes. */
function codesByStatus (): Map<number, string[]> {
  const codes = new Map<number, string[]>()
  for (const Rejection of Object.values(rejections)) {
    if (typeof Rejection !== 'function' || !(Rejection.prototype instanceof rejections.AuthRejection)) continue
    const { statusCode, code } = new (Rejection as new (detail: string) => rejections.AuthRejection)('scope')
    codes.set(statusCode, [...codes.get(statusCode) ?? [], code].sort())
  }
  return codes
}

const CODES = codesByStatus()

const WHEN: Record<number, string> = {
  400: 'The Authorization header is malformed, or the token (or DPoP proof) was sent twice or in the URL',
  401: 'No access token, or the token is not valid (expired, wrong issuer or audience, bad signature, ...), or its DPoP proof or client certificate does not match',
  403: 'The access token lacks a scope this route requires',
  503: 'The issuer\'s signing keys, or the DPoP replay store, cannot be reached right now; retry after Retry-After seconds'
}

function rejectionResponse (statusCode: number): Record<string, unknown> {
  const headers: Record<string, unknown> = {
    'WWW-Authenticate': { type: 'string', description: 'The RFC 6750 Bearer and RFC 9449 DPoP challenges (by the route\'s DPoP mode), the scheme used carrying error and error_description' }
  }
  if (statusCode === 401) headers['DPoP-Nonce'] = { type: 'string', description: 'With error use_dpop_nonce: the nonce the next DPoP proof must carry' }
  if (statusCode === 503) headers['Retry-After'] = { type: 'integer', description: 'Seconds to wait before retrying' }
  // Every status asked for here has at least one rejection class.
  const codes = CODES.get(statusCode) as string[]
  return {
    description: WHEN[statusCode],
    headers,
    ...errorBodySchema,
    properties: { ...errorBodySchema.properties, statusCode: { type: 'integer', enum: [statusCode] }, code: { type: 'string', enum: codes } }
  }
}

/** The rejections a route can answer with under its policy: none when public, 403 only with scopes. */
export function rejectionResponses (policy: RoutePolicy): Record<number, Record<string, unknown>> {
  if (policy.kind === 'public') return {}
  const statuses = policy.kind === 'scopes' ? [400, 401, 403, 503] : [400, 401, 503]
  return Object.fromEntries(statuses.map(status => [status, rejectionResponse(status)]))
}
