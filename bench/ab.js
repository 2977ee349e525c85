// Two targets under the same load at the same moment: is B cheaper than A per request?
//
//   node bench/ab.js --b /other/checkout/dist/src/main.js            # ours against another build
//   node bench/ab.js --a ours --b ceiling --scenarios S1,S2          # any two targets by name
//   node bench/ab.js --a ours --b ours-two-issuers --scenarios S2    # what trusting a second issuer costs S2
//   node bench/ab.js --a ours --b /other/checkout/dist/src/main.js --scenarios S7   # DPoP: proofs signed per run, as in run.js
//   node bench/ab.js --a ours --b ours --b-env DPOP=off --scenarios S5              # one setting's cost, same build
//
// run.js loads one target at a time, so a ratio compares two moments of a machine whose speed
// moves in bursts of seconds (bench/README.md): good to about ±0.05 over 10 rounds. Here both
// targets are loaded at once, each by its own load generator, so a burst speeds or slows both
// alike, and a difference of a few percent in CPU per request shows in a handful of rounds. The
// two share the cores, so the absolute numbers are not run.js's; only B against A means anything.
// Swap --a and --b once to see how much the positions themselves differ.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { installCleanup } from './lib/cleanup.js'
import { startKeyServers } from './lib/key-server.js'
import { runLoad } from './lib/load.js'
import { loadPlan, proofCount, signProofs, warmUp } from './lib/measure.js'
import { cpuMicros } from './lib/proc-stats.js'
import { answers, expectedStatus, SCENARIOS, skipReason } from './lib/scenarios.js'
import { median } from './lib/stats.js'
import { freePort, startTarget } from './lib/target-process.js'
import { TARGETS, targetEnv } from './lib/targets.js'
import { prepareTokens } from './lib/tokens.js'

const log = line => process.stderr.write(`${line}\n`)

function options () {
  const { values } = parseArgs({
    options: {
      a: { type: 'string', default: 'ours' },
      b: { type: 'string' },
      scenarios: { type: 'string', default: 'S1,S2,S4,S5' },
      rounds: { type: 'string', default: '8' },
      duration: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      tokens: { type: 'string', default: '2000' },
      proofs: { type: 'string' },
      'b-env': { type: 'string', multiple: true, default: [] }
    }
  })
  if (values.b === undefined) throw new Error('--b: a target name or the path of a service entry point (dist/src/main.js of another checkout)')
  const scenarios = values.scenarios.split(',')
  for (const name of scenarios) if (SCENARIOS[name] === undefined) throw new Error(`--scenarios: ${name} is not one of ${Object.keys(SCENARIOS).join(', ')}`)
  const [a, b] = [targetFor(values.a), targetFor(values.b)]
  for (const name of scenarios) {
    for (const target of [a, b]) {
      if (!answers(SCENARIOS[name], target)) throw new Error(`--scenarios: ${target.name} ${skipReason(SCENARIOS[name], target)} and cannot answer ${name}`)
    }
  }
  // B's extra environment, e.g. --b-env DPOP=off: the same build with another setting beside A.
  const bEnv = Object.fromEntries(values['b-env'].map(pair => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]))
  return {
    a,
    b,
    bEnv,
    scenarios,
    rounds: Number(values.rounds),
    duration: Number(values.duration),
    connections: Number(values.connections),
    tokens: Number(values.tokens),
    proofs: values.proofs === undefined ? undefined : Number(values.proofs),
    warmup: 2
  }
}

/** A target by name, or our service run from another build's entry point. */
function targetFor (nameOrPath) {
  if (TARGETS[nameOrPath] !== undefined) return { name: nameOrPath, ...TARGETS[nameOrPath] }
  const entry = resolve(nameOrPath)
  if (!existsSync(entry)) throw new Error(`${nameOrPath}: neither a target (${Object.keys(TARGETS).join(', ')}) nor a file`)
  return { ...TARGETS.ours, name: nameOrPath, label: `ours from ${entry}`, entry }
}

/**
 * One scenario on both targets at once; CPU per request of each from /proc around the load. Both
 * plans are made first: S7's proofs are signed then, before either load starts.
 */
async function measurePair (pair, scenario, tokens, poolFile, settings, s7Rates) {
  const proofs = pair.map((target, i) => {
    if (!scenario.dpop) return undefined
    const count = proofCount({ s7Rates: s7Rates[i], otherRates: target.warmupRps === undefined ? [] : [target.warmupRps], options: settings })
    return signProofs({ target, scenario, tokens, count })
  })
  const plans = pair.map((target, i) => loadPlan({ target, scenario, tokens, poolFile, proofs: proofs[i], options: settings }))
  const before = pair.map(target => cpuMicros(target.pid))
  const loads = await Promise.all(plans.map(runLoad)).finally(() => proofs.forEach(pool => pool?.remove()))
  if (scenario.dpop) loads.forEach((load, i) => s7Rates[i].push(load.rps))
  return pair.map((target, i) => ({
    cpuPerRequestUs: (cpuMicros(target.pid) - before[i]) / loads[i].completed,
    rps: loads[i].rps,
    // S7: a pool too small never replays a proof, it cuts the run short; count that as a failure too.
    statuses: loads[i].proofShortConnections > 0 || loads[i].proofsMissing > 0 ? { ...loads[i].statuses, 'proof pool too small': 1 } : loads[i].statuses
  }))
}

async function main () {
  const settings = options()
  installCleanup()
  const workDir = mkdtempSync(join(tmpdir(), 'bench-ab-'))
  process.once('exit', () => rmSync(workDir, { recursive: true, force: true }))
  const keyServers = await startKeyServers()
  const tokens = prepareTokens(keyServers, { poolSize: settings.tokens, rounds: settings.rounds, dir: workDir })
  const pair = []
  for (const target of [settings.a, settings.b]) {
    const env = targetEnv(target, keyServers, target === settings.b ? settings.bEnv : {})
    const started = { ...target, ...await startTarget(target, { port: await freePort(), env, cwd: workDir }) }
    started.warmupRps = (await warmUp({ target: started, tokens, warmupPool: tokens.warmupPool, options: settings }))?.rps
    pair.push(started)
  }
  log(`A: ${settings.a.label}\nB: ${settings.b.label}`)

  const ratios = Object.fromEntries(settings.scenarios.map(name => [name, []]))
  const s7Rates = [[], []] // sizes each target's S7 proof pools from its earlier S7 rounds
  for (let round = 0; round < settings.rounds; round++) {
    for (const name of settings.scenarios) {
      const [a, b] = await measurePair(pair, SCENARIOS[name], tokens, tokens.roundPools[round], settings, s7Rates)
      ratios[name].push(b.cpuPerRequestUs / a.cpuPerRequestUs)
      pair.forEach((target, i) => {
        const unexpected = Object.keys([a, b][i].statuses).filter(code => Number(code) !== expectedStatus(SCENARIOS[name], target))
        if (unexpected.length > 0) process.exitCode = 2
      })
      log(`  round ${round + 1} ${name}  A ${a.cpuPerRequestUs.toFixed(1)} µs/req ${JSON.stringify(a.statuses)}  ` +
        `B ${b.cpuPerRequestUs.toFixed(1)} µs/req ${JSON.stringify(b.statuses)}  B/A ${(b.cpuPerRequestUs / a.cpuPerRequestUs).toFixed(3)}`)
    }
  }
  for (const target of pair) await target.stop()
  for (const keyServer of keyServers) await keyServer.close()

  process.stdout.write('| scenario | B/A, CPU per request (median of rounds) | rounds: lowest, highest |\n| --- | --- | --- |\n')
  for (const [name, values] of Object.entries(ratios)) {
    process.stdout.write(`| ${name} ${SCENARIOS[name].title} | ${median(values).toFixed(3)} | ${Math.min(...values).toFixed(3)}, ${Math.max(...values).toFixed(3)} |\n`)
  }
}

try {
  await main()
  if (process.exitCode === 2) log('!!! some responses had another status than their scenario requires: see the rounds above')
} catch (error) {
  log(error.message)
  process.exitCode = 1
}
