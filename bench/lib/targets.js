import { fileURLToPath } from 'node:url'

const bench = new URL('../', import.meta.url)
const repo = new URL('../../', import.meta.url)

/**
 * The servers under load. Each is started as its own node process, given the same environment
 * (PORT, HOST, ISSUER_BASE_URL, AUDIENCE), and answers the same three routes.
 * `auth: false` marks the ceiling, which answers 200 whatever the token. `ours: true` marks our
 * service in any form (built from dist/, given --ours-env). `env` is the target's own extra
 * environment; `processTree` measures CPU and memory over the process and its children (the
 * cluster's workers); `optIn` keeps a target out of the default list. `issuers: 2` makes
 * ISSUER_BASE_URL name both key servers instead of the first alone. `dpop: true` marks a target
 * with auth that checks DPoP proofs (RFC 9449), the ones that can answer S7. Every target is also
 * given PUBLIC_URL, the origin the load generator uses (lib/target-process.js): our service takes
 * a proof's `htu` origin from it, never from the request's Host.
 */
export const TARGETS = {
  ours: service('ours'),
  // Our service under Node's cluster module (`npm run start:cluster`): the primary hands
  // connections to the workers. One worker against two shows what a second process buys.
  'ours-cluster-1': clusterTarget(1),
  'ours-cluster-2': clusterTarget(2),
  // Our service with another logging setting, to measure what logging costs against `ours` (the
  // default: no line per request, a line per rejection).
  'ours-log-requests': loggingTarget('ours, a line per request too (LOG_REQUESTS=true)', { LOG_REQUESTS: 'true' }),
  'ours-log-warn': loggingTarget('ours, rejections not logged (LOG_LEVEL=warn)', { LOG_LEVEL: 'warn' }),
  // Our service trusting both of the benchmark's issuers (ISSUER_BASE_URL=<first>,<second>): the
  // one target with auth that can answer S6, and beside `ours` what a second issuer costs S1-S5.
  'ours-two-issuers': { ...service('ours, two issuers'), issuers: 2, optIn: true },
  ceiling: peer('fastify, no auth (ceiling)', 'ceiling.js', false),
  // The ceiling with Fastify's logger on (as ours has it), to split our gap to the ceiling into
  // what the logger costs and what auth costs.
  'ceiling-logged': { ...peer('fastify + logger, no auth', 'ceiling.js', false), env: { CEILING_LOGGER: 'true' }, optIn: true },
  // Checks DPoP proofs too (the library's default, set explicitly in the peer): it runs S7.
  'express-oauth2': { ...peer('express + express-oauth2-jwt-bearer', 'express-oauth2-jwt-bearer.js'), dpop: true },
  'fastify-jwt-jwks': peer('fastify + fastify-jwt-jwks', 'fastify-jwt-jwks.js'),
  'fastify-jwt-get-jwks': peer('fastify + @fastify/jwt + get-jwks (verify cache on)', 'fastify-jwt-get-jwks.js')
}

/** A comparison server in bench/peers/, run with bench/'s own packages. */
function peer (label, file, auth = true) {
  return {
    label,
    entry: fileURLToPath(new URL(`peers/${file}`, bench)),
    needs: 'the comparison servers\' packages: run `npm ci --prefix bench` first',
    auth
  }
}

function clusterTarget (workers) {
  return {
    ...service(`ours, cluster of ${workers} worker${workers === 1 ? '' : 's'}`),
    entry: fileURLToPath(new URL('dist/src/cluster-main.js', repo)),
    env: { WORKERS: String(workers) },
    processTree: true,
    optIn: true
  }
}

/** Our service as `npm start` runs it: the process entry point, built from dist/. */
function service (label) {
  return {
    label,
    entry: fileURLToPath(new URL('dist/src/main.js', repo)),
    needs: 'the built service: run `npm run build` first',
    auth: true,
    ours: true,
    dpop: true // DPOP=allowed, the service's default
  }
}

function loggingTarget (label, env) {
  return { ...service(label), env, optIn: true }
}

/**
 * A target's environment: the first key server as its issuer (or the first two, for a target with
 * `issuers: 2`), its own settings, and --ours-env for ours.
 */
export function targetEnv (target, keyServers, oursEnv = {}) {
  const issuers = keyServers.slice(0, target.issuers ?? 1).map(keyServer => keyServer.issuer).join(',')
  return { ISSUER_BASE_URL: issuers, AUDIENCE: keyServers[0].audience, ...target.env, ...(target.ours ? oursEnv : {}) }
}

export const TARGET_NAMES = Object.keys(TARGETS)
/** What runs when --targets is not given: the issue-6 comparison, without the opt-in cluster and logging runs. */
export const DEFAULT_TARGET_NAMES = TARGET_NAMES.filter(name => !TARGETS[name].optIn)
