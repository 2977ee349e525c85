import { fileURLToPath } from 'node:url'

const bench = new URL('../', import.meta.url)
const repo = new URL('../../', import.meta.url)

/**
 * The servers under load. Each is started as its own node process, given the same environment
 * (PORT, HOST, ISSUER_BASE_URL, AUDIENCE), and answers the same three routes.
 * `auth: false` marks the ceiling, which answers 200 whatever the token.
 */
export const TARGETS = {
  ours: {
    label: 'ours',
    // The process entry point, as `npm start` runs it.
    entry: fileURLToPath(new URL('dist/src/main.js', repo)),
    needs: 'the built service: run `npm run build` first',
    auth: true
  },
  ceiling: {
    label: 'fastify, no auth (ceiling)',
    entry: fileURLToPath(new URL('peers/ceiling.js', bench)),
    needs: 'the comparison servers\' packages: run `npm ci --prefix bench` first',
    auth: false
  },
  'express-oauth2': {
    label: 'express + express-oauth2-jwt-bearer',
    entry: fileURLToPath(new URL('peers/express-oauth2-jwt-bearer.js', bench)),
    needs: 'the comparison servers\' packages: run `npm ci --prefix bench` first',
    auth: true
  },
  'fastify-jwt-jwks': {
    label: 'fastify + fastify-jwt-jwks',
    entry: fileURLToPath(new URL('peers/fastify-jwt-jwks.js', bench)),
    needs: 'the comparison servers\' packages: run `npm ci --prefix bench` first',
    auth: true
  },
  'fastify-jwt-get-jwks': {
    label: 'fastify + @fastify/jwt + get-jwks (verify cache on)',
    entry: fileURLToPath(new URL('peers/fastify-jwt-get-jwks.js', bench)),
    needs: 'the comparison servers\' packages: run `npm ci --prefix bench` first',
    auth: true
  }
}

export const TARGET_NAMES = Object.keys(TARGETS)
