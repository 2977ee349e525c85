import type { FastifyInstance } from 'fastify'
import type { KeySet } from '../../src/auth/key-set.js'

/** The key set of one trusted issuer of the app (the first by default), for tests that drive it. */
export function keySetOf (app: FastifyInstance, issuer?: string): KeySet {
  const trusted = app.trustedIssuers.all().find(candidate => issuer === undefined || candidate.issuer === issuer)
  if (trusted?.keySet === undefined) throw new Error(`no key set for issuer ${String(issuer)}`)
  return trusted.keySet
}
