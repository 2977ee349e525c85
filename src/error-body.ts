import { STATUS_CODES } from 'node:http'

/** The one shape every error response has. */
export interface ErrorBody {
  statusCode: number
  error: string
  code: string
  message: string
}

export function errorBody (statusCode: number, code: string, message: string): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] as string, code, message }
}
