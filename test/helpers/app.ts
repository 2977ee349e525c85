import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import app from '../../src/app.js'
import { createFastify } from '../../src/fastify-instance.js'
import { serviceLogger } from '../../src/logger.js'
import type { KeyServer } from './key-server.js'

/** Everything the service logged, one parsed JSON object per line. */
export class LogCapture extends Writable {
  readonly lines: Array<Record<string, unknown>> = []
  readonly raw: string[] = []
  override _write (chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      this.raw.push(line)
      this.lines.push(JSON.parse(line) as Record<string, unknown>)
    }
    done()
  }
}

export function envFor (keys: KeyServer, extra: Record<string, string> = {}): Record<string, string> {
  return { ISSUER_BASE_URL: keys.issuer, AUDIENCE: keys.audience, LOG_LEVEL: 'info', ...extra }
}

/**
 * The app as production builds it, against a test key server, logs captured. Ready on return.
 * `extraRoutes` are registered after the app, as a route file would be.
 */
export async function buildApp (
  env: Record<string, string>,
  logs = new LogCapture(),
  extraRoutes?: (fastify: FastifyInstance) => Promise<void>
): Promise<FastifyInstance> {
  const fastify = createFastify(serviceLogger(logs))
  await fastify.register(fp(app), { env })
  if (extraRoutes !== undefined) await fastify.register(extraRoutes)
  fastify.log.level = fastify.config.LOG_LEVEL
  await fastify.ready()
  return fastify
}
