import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { findProjectRoot } from '../src/project-root.js'
import { openapiOptions } from '../src/openapi/document.js'

const DOCS_PREFIX = '/docs'

/**
 * The OpenAPI document at /docs/json and Swagger UI at /docs, both public. The document is made
 * from the routes' own auth declarations (see src/openapi/document.ts). Registered before the
 * routes, so @fastify/swagger sees each one, and after the metrics, so /docs is counted too.
 */
export default fp(async function docs (fastify) {
  const { version } = JSON.parse(readFileSync(join(findProjectRoot(), 'package.json'), 'utf8')) as { version: string }
  await fastify.register(swagger, openapiOptions({ issuer: fastify.authSettings.issuers[0].issuer, version, dpop: fastify.authSettings.dpop }))
  await fastify.register(publicDocumentation)
}, { name: 'docs', dependencies: ['env', 'auth', 'metrics'] })

/**
 * Swagger UI's own routes, declared public. @fastify/swagger-ui has no option to put `config` on
 * the routes it adds (fastify/fastify-swagger-ui#218), and a route without `config.auth: false`
 * needs a token. So, in this encapsulated context only, every route is declared public as it is
 * added: the declaration the auth plugin reads, and lists, like any other route's.
 */
async function publicDocumentation (instance: FastifyInstance): Promise<void> {
  const addRoute = instance.route
  // Swagger UI and @fastify/static add every route through `route`, on child instances of this one.
  instance.route = function publicRoute (this: FastifyInstance, options: RouteOptions) {
    return addRoute.call(this, { ...options, config: { ...options.config, auth: false } })
  } as FastifyInstance['route']
  await instance.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    // Nothing leaves the machine: no call to the public validator service.
    validatorUrl: false
  })
}
