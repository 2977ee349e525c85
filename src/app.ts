import { join } from 'node:path'
import autoload from '@fastify/autoload'
import type { FastifyInstance } from 'fastify'
import { errorBody } from './error-body.js'
import { errorHandler } from './error-handler.js'

export interface AppOptions {
  /** Variables to use instead of process.env and `.env` (tests). */
  env?: Record<string, string | undefined>
}

/**
 * The application as a plugin: infrastructure plugins first (env, then auth, which every route
 * registered after it inherits), then the routes. It never listens; src/server.ts does.
 */
export default async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  await fastify.register(autoload, {
    dir: join(import.meta.dirname, '../plugins'),
    options: { env: opts.env }
  })
  fastify.setErrorHandler(errorHandler)
  fastify.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody(404, 'NOT_FOUND', `Route ${request.method} ${request.url.split('?')[0]} not found`)))
  // The route files share one Fastify context, so each spells its URL in full (no prefix from its
  // folder). Fastify gives every context its own Request and Reply classes: with a context per
  // file, the framework's hot code saw a different object shape on each route, and every request
  // ran slower for it. A hook or decorator that must stay with one file's routes goes inside a
  // `fastify.register` in that file.
  await fastify.register(autoload, {
    dir: join(import.meta.dirname, '../routes'),
    encapsulate: false
  })
}
