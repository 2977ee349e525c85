import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { runLoad } from './load.js'
import { cpuMicros, machineCpuMicros, peakRssBytes, processTree, resetPeakRss } from './proc-stats.js'
import { expectedStatus } from './scenarios.js'

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
 * built once, as S2's is, so the load generator pays no more per request than under S2.
 */
export function scenarioRequests (scenario, tokens) {
  if (scenario.pool) return [{ path: scenario.path, usePool: true }]
  if (scenario.tokens) return scenario.tokens.map(name => ({ path: scenario.path, token: tokens[name] }))
  return [{ path: scenario.path, token: scenario.token === null ? undefined : tokens[scenario.token] }]
}

/** What the load generator sends to a target for one run of a scenario. */
export function loadPlan ({ target, scenario, tokens, poolFile, options }) {
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
  return plan
}

/**
 * One measured run: a target under one scenario. CPU time and peak RSS are read from /proc
 * around the run, so they cover the target alone (the load generator is another process).
 */
export async function measureRun ({ target, scenario, tokens, poolFile, options }) {
  await sleep(SETTLE_MS)
  const plan = loadPlan({ target, scenario, tokens, poolFile, options })
  const waitedForQuiet = options.quietWait > 0 ? await waitForQuietMachine(options.quietWait) : 0
  // A cluster target is its primary and its workers: measure them all (they stay put during a run).
  const pids = target.processTree ? processTree(target.pid) : [target.pid]
  const peakIsPerRun = pids.map(resetPeakRss).every(Boolean)
  const machineBefore = machineCpuMicros()
  const startedAt = performance.now()
  const cpuBefore = sumOrNull(pids.map(cpuMicros))
  const load = await runLoad(plan)
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
    shortOfPool: scenario.pool && load.completed < options.tokens
  }
}

function sumOrNull (values) {
  return values.some(value => value === null) ? null : values.reduce((sum, value) => sum + value, 0)
}

/**
 * Unmeasured load touching every path a scenario will use, so the JIT has warmed up on all. A
 * target that trusts two issuers gets the second issuer's token too (S6); the others' warm-up is
 * as it was before S6, since to them that token is only a rejection.
 */
export function warmUp ({ target, tokens, warmupPool, options }) {
  if (options.warmup === 0) return undefined
  const requests = [
    { path: '/api/public' },
    { path: '/api/private', token: tokens.reused },
    { path: '/api/private', usePool: true },
    { path: '/api/private-scoped', token: tokens.scoped },
    { path: '/api/private', token: tokens.forged }
  ]
  if (target.issuers >= 2) requests.push({ path: '/api/private', token: tokens.secondIssuer })
  return runLoad({
    url: target.url,
    connections: options.connections,
    duration: options.warmup,
    capSeconds: options.warmup + 5,
    poolFile: warmupPool,
    requests
  })
}
