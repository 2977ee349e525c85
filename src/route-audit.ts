import Fastify from 'fastify'
import fp from 'fastify-plugin'
import type { DeclaredRoute } from '../plugins/auth.js'
import app from './app.js'
import { describePolicy } from './auth/route-policy.js'
import { describeConfigError } from './config.js'

/**
 * Enough configuration to build the app without an issuer: one on a loopback port nobody serves
 * (the discard port), so the key set prefetch fails at once and nothing leaves the machine. The
 * auth plugin is the real one; only its keys are missing, and listing routes needs none.
 */
export const AUDIT_ENV: Readonly<Record<string, string>> = {
  ISSUER_BASE_URL: 'http://127.0.0.1:9/',
  AUDIENCE: 'https://route-audit.invalid',
  JWKS_TIMEOUT: '100',
  LOG_LEVEL: 'silent'
}

/**
 * Every route the app serves with the policy the auth plugin enforces on it, read from
 * `fastify.declaredRoutes` once the app is ready. `env` adds settings that change the routes
 * (METRICS_ENABLED).
 */
export async function auditRoutes (env: Record<string, string> = {}): Promise<DeclaredRoute[]> {
  const fastify = Fastify({ logger: false })
  try {
    await fastify.register(fp(app), { env: { ...AUDIT_ENV, ...env } })
    await fastify.ready()
    return [...fastify.declaredRoutes]
  } finally {
    await fastify.close()
  }
}

/** Code-unit order: the same on every machine, whatever its locale. */
function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** A table for people: one line per route, sorted by URL then method, policy in words. */
export function formatRoutes (routes: readonly DeclaredRoute[]): string {
  const rows = [...routes]
    .sort((a, b) => compare(a.url, b.url) || compare(a.method, b.method))
    .map(route => [route.method, route.url, describePolicy(route.policy)])
  const table = [['METHOD', 'URL', 'POLICY'], ...rows]
  const widths = [0, 1].map(column => Math.max(...table.map(row => row[column].length)))
  return table.map(([method, url, policy]) => `${method.padEnd(widths[0])}  ${url.padEnd(widths[1])}  ${policy}`).join('\n') + '\n'
}

/** The line to print when the audit fails: a configuration mistake named, anything else as is. */
export function describeAuditFailure (error: unknown): string {
  return describeConfigError(error) ?? `Route audit failed: ${(error as Error).message}`
}
