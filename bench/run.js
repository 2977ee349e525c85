// The load benchmark of issue 6: our service against its peers and a no-auth ceiling, on
// loopback only. `node bench/run.js --help` lists the options. Progress goes to stderr; the
// markdown report goes to stdout and to BENCHMARKS.md.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { installCleanup } from './lib/cleanup.js'
import { startKeyServers, TOKEN_TTL_SECONDS } from './lib/key-server.js'
import { describeMachine, packageVersions, serviceRevision } from './lib/machine.js'
import { measureProofFloor } from './lib/dpop.js'
import { measureRun, proofCount, warmUp } from './lib/measure.js'
import { HELP, parseOptions } from './lib/options.js'
import { renderReport } from './lib/report.js'
import { answers, SCENARIOS, skipReason } from './lib/scenarios.js'
import { freePort, startTarget } from './lib/target-process.js'
import { TARGETS, targetEnv } from './lib/targets.js'
import { prepareTokens } from './lib/tokens.js'

const REPO = fileURLToPath(new URL('../', import.meta.url))
const log = line => process.stderr.write(`${line}\n`)

/** The command as typed, with any BENCH_* variables that shaped it, so the report can be rerun. */
function commandLine (argv) {
  const variables = Object.entries(process.env)
    .filter(([name]) => name.startsWith('BENCH_'))
    .map(([name, value]) => `${name}=${value} `)
    .join('')
  const quoted = argv.map(arg => /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`)
  return `${variables}node bench/run.js${quoted.map(arg => ` ${arg}`).join('')}`
}

function checkPrerequisites (targets) {
  for (const name of targets) {
    const target = TARGETS[name]
    const ready = target.ours ? existsSync(target.entry) : existsSync(join(REPO, 'bench', 'node_modules', 'fastify'))
    if (!ready) throw new Error(`target ${name} needs ${target.needs}`)
  }
}

async function startTargets (options, keyServers, cwd) {
  const started = {}
  for (const name of options.targets) {
    const target = TARGETS[name]
    const env = targetEnv(target, keyServers, options.oursEnv)
    started[name] = { ...TARGETS[name], ...await startTarget({ name, ...TARGETS[name] }, { port: await freePort(), env, cwd }) }
    log(`  ${name} listening on ${started[name].url} (pid ${started[name].pid})`)
  }
  return started
}

function progressLine (name, scenario, round, record) {
  const flag = record.unexpected > 0 || record.errors > 0 || record.timeouts > 0 ? '  <-- UNEXPECTED RESPONSES' : ''
  const short = record.proofShortConnections > 0 || record.proofsMissing > 0 ? '  <-- PROOF POOL TOO SMALL' : ''
  const proofs = record.proofsSize === undefined ? '' : `  proofs ${record.proofsSent}/${record.proofsSize} (signed in ${record.proofSignSeconds.toFixed(1)} s)`
  return `  round ${round + 1} ${scenario} ${name.padEnd(22)} ${Math.round(record.rps).toString().padStart(7)} req/s  ` +
    `p50 ${record.p50?.toFixed(2)} ms  p99 ${record.p99?.toFixed(2)} ms  ` +
    `cpu ${record.cpuPerRequestUs?.toFixed(1)} µs/req  rss ${(record.peakRss / 2 ** 20).toFixed(0)} MB  ` +
    `others ${record.backgroundCores?.toFixed(2)} cores${proofs}${flag}${short}`
}

/** S7's pool size for a target: from its rates so far, S7's own once it has some (lib/measure.js). */
function proofCountFor (byScenario, warmupRps, options) {
  const rates = scenario => (byScenario[scenario] ?? []).map(record => record.rps)
  const otherRates = [...Object.keys(byScenario).filter(scenario => scenario !== 'S7').flatMap(rates), ...(warmupRps === undefined ? [] : [warmupRps])]
  return proofCount({ s7Rates: rates('S7'), otherRates, options })
}

/**
 * One round's running order. The targets rotate, so none always follows the same neighbour; ours
 * and the ceiling run back to back (which of the two goes first alternates), because their ratio
 * is what issue 6 measures and this machine drifts by 15-30% within a minute.
 */
function roundOrder (targets, round) {
  const rotated = targets.map((_, i) => targets[(i + round) % targets.length])
  if (!targets.includes('ours') || !targets.includes('ceiling')) return rotated
  const pair = round % 2 === 0 ? ['ours', 'ceiling'] : ['ceiling', 'ours']
  const others = rotated.filter(name => !pair.includes(name))
  const at = round % (others.length + 1)
  return [...others.slice(0, at), ...pair, ...others.slice(at)]
}

async function main () {
  const argv = process.argv.slice(2)
  const options = parseOptions(argv)
  if (options.help) {
    process.stdout.write(HELP)
    return
  }
  installCleanup()
  checkPrerequisites(options.targets)
  const startedAt = new Date()
  const workDir = mkdtempSync(join(tmpdir(), 'bench-'))
  process.once('exit', () => rmSync(workDir, { recursive: true, force: true }))

  // S7's floor: what one proof must cost a server at least, measured here before any target runs.
  let proofFloor
  if (options.scenarios.some(scenario => SCENARIOS[scenario].dpop)) {
    log('S7: timing one ES256 verify and one replay-store insert in this process (the floor) ...')
    proofFloor = await measureProofFloor()
    log(`  ES256 verify ${proofFloor.verifyUs.toFixed(1)} µs + store insert ${proofFloor.storeUs.toFixed(2)} µs (${proofFloor.store}) = ` +
      `${proofFloor.floorUs.toFixed(1)} µs; signing a proof (client side, kept out of the runs) ${proofFloor.signUs.toFixed(1)} µs`)
  }

  const keyServers = await startKeyServers()
  log(`key servers: ${keyServers.map(keyServer => keyServer.issuer).join(' and ')} (the second for two-issuer targets only)`)
  log(`signing ${(options.tokens * options.rounds).toLocaleString('en-US')} tokens for S3 ...`)
  const tokens = prepareTokens(keyServers, { poolSize: options.tokens, rounds: options.rounds, dir: workDir })

  log('starting targets ...')
  const targets = await startTargets(options, keyServers, workDir)
  const warmupRps = {}
  for (const name of options.targets) {
    log(`  warming up ${name} ...`)
    warmupRps[name] = (await warmUp({ target: targets[name], tokens, warmupPool: tokens.warmupPool, options }))?.rps
  }

  // A target that cannot answer a scenario (one issuer, S6; no DPoP, S7) keeps no runs of it; the report says so.
  const runs = Object.fromEntries(options.targets.map(name => [name, Object.fromEntries(options.scenarios.map(s => [s, []]))]))
  for (const scenario of options.scenarios) {
    const skipped = options.targets.filter(name => !answers(SCENARIOS[scenario], TARGETS[name]))
    if (skipped.length > 0) log(`  ${scenario} skips ${skipped.map(name => `${name} (${skipReason(SCENARIOS[scenario], TARGETS[name])})`).join(', ')}`)
  }
  for (let round = 0; round < options.rounds; round++) {
    const order = roundOrder(options.targets, round)
    for (const scenario of options.scenarios) {
      for (const name of order.filter(name => answers(SCENARIOS[scenario], TARGETS[name]))) {
        const proofs = SCENARIOS[scenario].dpop ? proofCountFor(runs[name], warmupRps[name], options) : undefined
        const record = await measureRun({ target: targets[name], scenario: SCENARIOS[scenario], tokens, poolFile: tokens.roundPools[round], proofPoolSize: proofs, options })
        runs[name][scenario].push(record)
        log(progressLine(name, scenario, round, record))
      }
    }
  }

  log('stopping targets ...')
  for (const target of Object.values(targets)) await target.stop()
  for (const keyServer of keyServers) await keyServer.close()

  const { markdown, violations, checks } = renderReport({
    runs,
    options,
    command: commandLine(argv),
    machine: describeMachine(),
    revision: serviceRevision(),
    versions: packageVersions(),
    startedAt,
    elapsedSeconds: (Date.now() - startedAt) / 1000,
    tokenTtl: `${TOKEN_TTL_SECONDS / 3600} h`,
    proofFloor
  })
  process.stdout.write(`${markdown}\n`)
  if (options.out !== '-') {
    const file = resolve(REPO, options.out)
    writeFileSync(file, `${markdown}\n`)
    log(`report written to ${file}`)
  }
  if (violations.length > 0) {
    log(`\n!!! ${violations.length} VIOLATION(S): some runs answered other than their scenario requires !!!`)
    for (const violation of violations) log(`!!! ${violation}`)
    process.exitCode = 2
  }
  if (options.check && checks.some(check => !check.met)) {
    log('--check: our service misses at least one issue-6 target')
    process.exitCode ||= 1
  }
}

main().catch(error => {
  process.stderr.write(`bench: ${error.message}\n`)
  process.exit(1)
})
