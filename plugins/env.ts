import fastifyEnv from '@fastify/env'
import fp from 'fastify-plugin'
import { deriveAuthSettings, envSchema, type AuthSettings, type Env } from '../src/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Env
    authSettings: AuthSettings
  }
}

export interface EnvPluginOptions {
  /** Variables to use instead of process.env and `.env` (tests). */
  env?: Record<string, string | undefined>
}

/** Loads and validates the environment once; a mistake fails start-up with the variable named. */
export default fp<EnvPluginOptions>(async function envPlugin (fastify, opts) {
  const source = opts.env === undefined
    ? { env: true, dotenv: true }
    : { env: false, data: opts.env }
  await fastify.register(fastifyEnv, { schema: structuredClone(envSchema), ...source })
  fastify.decorate('authSettings', deriveAuthSettings(fastify.config))
}, { name: 'env' })
