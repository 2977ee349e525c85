import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { writeProofPool } from './dpop.js'
import { runLoad } from './load.js'
import { cpuMicros, machineCpuMicros, peakRssBytes, processTree, resetPeakRss } from './proc-stats.js'
import { answers, expectedStatus, SCENARIOS } from './scenarios.js'
import { max } from './stats.js'

const SETTLE_MS = 300 // lets the previous run's sockets close and garbage settle before the next
const QUIET_SAMPLE_MS = 250
/** Other processes using more than this share of one core count as a disturbance. */
export const BUSY_MACHINE_CORES = 0.25

/**
 * Waits, up to `maxSeconds`, until the rest of the machine uses less than BUSY_MACHINE_CORES
 * (the targets are idle between runs, so whatever is busy is someone else: a test suite, a
 * build). Resolves with the seconds waited; a shared machine cannot always be made quiet.
 */
export async function waitForQuietMachine (maxSeconds) {
  const started = performance.now()
  for (;;) {
    const before = machineCpuMicros()
    await sleep(QUIET_SAMPLE_MS)
    const after = machineCpuMicros()
    const waited = (performance.now() - started) / 1000
    if (before === null || (after.busy - before.busy) / (QUIET_SAMPLE_MS * 1000) < BUSY_MACHINE_CORES) return waited
    if (waited >= maxSeconds) return waited
  }
}

/**
 * The autocannon request list for a scenario: one entry, with its token or the round's pool, or
 * one entry per token of `tokens`, which autocannon sends in turn on every connection. Those are
 * built once, as S2's is, so the load generator pays no more per request than under S2. S7's
 * entry sends its token as `DPoP <token>` and takes a proof from the run's pool per request.
 */
export function scenarioRequests (scenario, tokens) {
  if (scenario.pool) return [{ path: scenario.path, usePool: true }]
  if (scenario.tokens) return scenario.tokens.map(name => ({ path: scenario.path, token: tokens[name] }))
  if (scenario.dpop) return [dpopRequest(scenario.path, tokens)]
  return [{ path: scenario.path, token: scenario.token === null ? undefined : tokens[scenario.token] }]
}

function dpopRequest (path, tokens) {
  return { path, token: tokens.dpopBound, scheme: 'DPoP', useProofs: true }
}

/** What the load generator sends to a target for one run of a scenario; S7 needs its `proofs` (signProofs). */
export function loadPlan ({ target, scenario, tokens, poolFile, proofs, options }) {
  const plan = {
    url: target.url,
    connections: options.connections,
    requests: scenarioRequests(scenario, tokens),
    duration: options.duration,
    capSeconds: options.duration + 5
  }
  if (scenario.pool) {
    // Bounded by the pool, not by time, so that no token is ever sent twice (see load-worker.js).
    Object.assign(plan, { poolFile, amount: options.tokens, capSeconds: Math.max(10, options.duration * 4) })
  }
  if (scenario.dpop) {
    if (proofs === undefined) throw new Error(`${target.name}: an S7 run needs a pool of proofs`)
    // Bounded by time, as S2 is, and by the pool: no connection ever sends more than its share of
    // it, so no proof is sent twice; one that spends its share early is reported (load-worker.js).
    Object.assign(plan, { proofFile: proofs.file, maxOverallRequests: proofs.count })
  }
  return plan
}

/** A run of S7 with no rate known yet assumes this many requests a second (before headroom). */
const DEFAULT_EXPECTED_RPS = 20000
/** autocannon stops at its next 250 ms sample after the duration; requests go on until then. */
const STOP_LAG_SECONDS = 0.5

/**
 * How many proofs one S7 run of a target gets: the requests it is expected to send in the run's
 * duration (plus autocannon's stop lag), with headroom, plus one per connection. The expected
 * rate is 2 × the target's fastest S7 run so far (this machine has bursts 30-40% faster than the
 * rest); before its first, 1.5 × its fastest run of anything (S1-S6 and the warm-up cost a target
 * less per request than S7), or DEFAULT_EXPECTED_RPS when it has run nothing. A pool too small is
 * never stretched: the run stops short and says so (a violation). Signing is the only cost of a
 * larger pool: about 40 µs a proof, in the driver, before the run.
 */
export function proofCount ({ s7Rates = [], otherRates = [], options }) {
  if (options.proofs !== undefined) return options.proofs
  const seen = max(s7Rates)
  const other = max(otherRates)
  const expected = seen !== null ? seen * 2 : other !== null ? other * 1.5 : DEFAULT_EXPECTED_RPS * 1.5
  return Math.ceil(expected * (options.duration + STOP_LAG_SECONDS)) + options.connections
}

let proofFiles = 0

/**
 * Signs a pool of `count` S7 proofs for one target (its own origin in `htu`, fresh jtis, iat now)
 * into a file for the load generator; `remove()` deletes it once the run is over. Called right
 * before the run, outside its measurement: signing is the client's work, not the target's.
 */
export function signProofs ({ target, scenario, tokens, count }) {
  const file = join(tokens.dir, `proofs-${++proofFiles}.json`)
  const seconds = writeProofPool(file, { key: tokens.proofKey, accessToken: tokens.dpopBound, htu: `${target.url}${scenario.path}`, count })
  return { file, count, seconds, remove: () => rmSync(file, { force: true }) }
}

/**
 * One measured run: a target under one scenario. CPU time and peak RSS are read from /proc
 * around the run, so they cover the target alone (the load generator is another process).
 */
export async function measureRun ({ target, scenario, tokens, poolFile, proofPoolSize, options }) {
  await sleep(SETTLE_MS)
  // S7: signed before the quiet wait, so the machine settles from it before the load starts.
  const proofs = scenario.dpop ? signProofs({ target, scenario, tokens, count: proofPoolSize }) : undefined
  const plan = loadPlan({ target, scenario, tokens, poolFile, proofs, options })
  const waitedForQuiet = options.quietWait > 0 ? await waitForQuietMachine(options.quietWait) : 0
  // A cluster target is its primary and its workers: measure them all (they stay put during a run).
  const pids = target.processTree ? processTree(target.pid) : [target.pid]
  const peakIsPerRun = pids.map(resetPeakRss).every(Boolean)
  const machineBefore = machineCpuMicros()
  const startedAt = performance.now()
  const cpuBefore = sumOrNull(pids.map(cpuMicros))
  const load = await runLoad(plan).finally(() => proofs?.remove())
  const cpuAfter = sumOrNull(pids.map(cpuMicros))
  const machineAfter = machineCpuMicros()
  const wallUs = (performance.now() - startedAt) * 1000
  const expected = expectedStatus(scenario, target)
  const unexpected = Object.entries(load.statuses)
    .filter(([code]) => Number(code) !== expected)
    .reduce((sum, [, count]) => sum + count, 0)
  const cpuUs = cpuBefore === null ? null : cpuAfter - cpuBefore
  return {
    ...load,
    expected,
    unexpected,
    cpuPerRequestUs: cpuUs === null || load.completed === 0 ? null : cpuUs / load.completed,
    // Share of one core the target used while loaded (it idles before and after the load).
    targetBusy: cpuUs === null || load.seconds === 0 ? null : cpuUs / (load.seconds * 1e6),
    // Cores' worth of CPU that neither the target nor the load generator used during the run.
    backgroundCores: machineBefore === null || cpuUs === null ? null : (machineAfter.busy - machineBefore.busy - cpuUs - load.generatorCpuUs) / wallUs,
    stealCores: machineBefore === null ? null : (machineAfter.steal - machineBefore.steal) / wallUs,
    waitedForQuiet,
    // Summed over a cluster's processes: each holds its own copy of the service.
    peakRss: sumOrNull(pids.map(peakRssBytes)),
    peakIsPerRun,
    shortOfPool: scenario.pool && load.completed < options.tokens,
    ...(proofs === undefined ? {} : { proofSignSeconds: proofs.seconds })
  }
}

function sumOrNull (values) {
  return values.some(value => value === null) ? null : values.reduce((sum, value) => sum + value, 0)
}

/**
 * Unmeasured load touching every path a scenario will use, so the JIT has warmed up on all. A
 * target that trusts two issuers gets the second issuer's token too (S6); the others' warm-up is
 * as it was before S6, since to them that token is only a rejection. When S7 is to run, a target
 * that answers it gets S7's requests too, with proofs of their own; otherwise its warm-up is as
 * it was before S7. (Should the warm-up outrun its proofs, the rest go without one: unmeasured.)
 */
export async function warmUp ({ target, tokens, warmupPool, options }) {
  if (options.warmup === 0) return undefined
  const requests = [
    { path: '/api/public' },
    { path: '/api/private', token: tokens.reused },
    { path: '/api/private', usePool: true },
    { path: '/api/private-scoped', token: tokens.scoped },
    { path: '/api/private', token: tokens.forged }
  ]
  if (target.issuers >= 2) requests.push({ path: '/api/private', token: tokens.secondIssuer })
  const withDpop = options.scenarios.some(name => SCENARIOS[name].dpop) && answers(SCENARIOS.S7, target)
  if (withDpop) requests.push(dpopRequest('/api/private', tokens))
  const proofs = withDpop
    ? signProofs({ target, scenario: SCENARIOS.S7, tokens, count: Math.ceil(options.warmup * DEFAULT_EXPECTED_RPS / requests.length) + options.connections })
    : undefined
  return runLoad({
    url: target.url,
    connections: options.connections,
    duration: options.warmup,
    capSeconds: options.warmup + 5,
    poolFile: warmupPool,
    ...(proofs === undefined ? {} : { proofFile: proofs.file }),
    requests
  }).finally(() => proofs?.remove())
}
