// Where does a target spend its CPU under one scenario? Runs the target with `node --cpu-prof`,
// loads it, stops it (the profile is written as it exits) and prints the top frames. The
// .cpuprofile is kept in bench/profiles/ for Chrome DevTools or speedscope.
//
//   node bench/profile.js --scenario S2 [--target ours] [--duration 10] [--ours-env LOG_LEVEL=warn]
//   node bench/profile.js --scenario S6 --target ours-two-issuers
//   node bench/profile.js --scenario S7 --duration 5   # DPoP: a pool of proofs is signed first (--proofs to size it)
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { installCleanup } from './lib/cleanup.js'
import { summariseProfile } from './lib/cpu-profile.js'
import { startKeyServers } from './lib/key-server.js'
import { runLoad } from './lib/load.js'
import { proofCount, scenarioRequests, signProofs } from './lib/measure.js'
import { answers, SCENARIOS, skipReason } from './lib/scenarios.js'
import { freePort, startTarget } from './lib/target-process.js'
import { TARGETS, targetEnv } from './lib/targets.js'
import { prepareTokens } from './lib/tokens.js'

const PROFILES = fileURLToPath(new URL('profiles/', import.meta.url))
const log = line => process.stderr.write(`${line}\n`)
const percent = share => `${(share * 100).toFixed(1).padStart(5)}%`

function options () {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', default: 'ours' },
      scenario: { type: 'string', default: 'S2' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      tokens: { type: 'string', default: '10000' },
      top: { type: 'string', default: '25' },
      proofs: { type: 'string' },
      'ours-env': { type: 'string', multiple: true, default: [] }
    }
  })
  if (TARGETS[values.target] === undefined) throw new Error(`--target: one of ${Object.keys(TARGETS).join(', ')}`)
  if (SCENARIOS[values.scenario] === undefined) throw new Error(`--scenario: one of ${Object.keys(SCENARIOS).join(', ')}`)
  if (!answers(SCENARIOS[values.scenario], TARGETS[values.target])) throw new Error(`--target: ${values.target} ${skipReason(SCENARIOS[values.scenario], TARGETS[values.target])} and cannot answer ${values.scenario}`)
  const oursEnv = Object.fromEntries(values['ours-env'].map(pair => pair.split(/=(.*)/s, 2)))
  const proofs = values.proofs === undefined ? undefined : Number(values.proofs)
  return { ...values, duration: Number(values.duration), connections: Number(values.connections), tokens: Number(values.tokens), top: Number(values.top), proofs, oursEnv }
}

async function main () {
  const opts = options()
  installCleanup()
  const workDir = mkdtempSync(join(tmpdir(), 'bench-profile-'))
  process.once('exit', () => rmSync(workDir, { recursive: true, force: true }))
  const scenario = SCENARIOS[opts.scenario]

  const keyServers = await startKeyServers()
  const tokens = prepareTokens(keyServers, { poolSize: scenario.pool ? opts.tokens : opts.connections, rounds: 1, dir: workDir })
  const target = await startTarget({ name: opts.target, ...TARGETS[opts.target] }, {
    port: await freePort(),
    env: targetEnv(TARGETS[opts.target], keyServers, opts.oursEnv),
    cwd: workDir,
    nodeArgs: ['--cpu-prof', '--cpu-prof-dir', workDir]
  })
  log(`profiling ${opts.target} under ${opts.scenario} (${scenario.title}) for ${opts.duration} s ...`)
  // S7: the proofs are signed now, before the load (the profile covers the target's whole life anyway).
  const proofs = scenario.dpop ? signProofs({ target: { ...target, name: opts.target }, scenario, tokens, count: proofCount({ options: opts }) }) : undefined
  const plan = { url: target.url, connections: opts.connections, duration: opts.duration, capSeconds: opts.duration * 4, requests: scenarioRequests(scenario, tokens) }
  if (scenario.pool) Object.assign(plan, { poolFile: tokens.roundPools[0], amount: opts.tokens })
  if (proofs !== undefined) Object.assign(plan, { proofFile: proofs.file, maxOverallRequests: proofs.count })
  const load = await runLoad(plan).finally(() => proofs?.remove())
  log(`${Math.round(load.rps)} req/s, statuses ${JSON.stringify(load.statuses)}`)
  if (load.proofShortConnections > 0) log(`${load.proofShortConnections} connections spent their share of the ${load.proofsSize} proofs before the end: the run was cut short (raise --proofs)`)
  await target.stop()
  for (const keyServer of keyServers) await keyServer.close()

  const written = readdirSync(workDir).find(name => name.endsWith('.cpuprofile'))
  if (written === undefined) throw new Error(`${opts.target} wrote no profile; did it exit cleanly?\n${target.stderr()}`)
  mkdirSync(PROFILES, { recursive: true })
  const kept = join(PROFILES, `${opts.target}-${opts.scenario}-${Date.now()}.cpuprofile`)
  renameSync(join(workDir, written), kept)

  const summary = summariseProfile(JSON.parse(readFileSync(kept, 'utf8')))
  const lines = [
    `# CPU profile: ${opts.target}, ${opts.scenario} (${scenario.title})`,
    `${summary.samples} samples of work (idle left out; start-up and shutdown included), ${Math.round(load.rps)} req/s; profile: ${kept}`,
    '',
    `## Top ${opts.top} functions by self time (with their total time)`,
    ...summary.self.slice(0, opts.top).map(({ name, share, totalShare }) => `${percent(share)} ${percent(totalShare)}  ${name}`),
    '',
    `## Top ${opts.top} functions by total time`,
    ...summary.total.slice(0, opts.top).map(({ name, share }) => `${percent(share)}  ${name}`),
    '',
    '## The service\'s own functions (dist/) by total time, with their self time',
    ...summary.self.filter(({ name }) => name.includes(' dist/')).sort((a, b) => b.totalShare - a.totalShare).slice(0, opts.top)
      .map(({ name, share, totalShare }) => `${percent(totalShare)} ${percent(share)}  ${name}`),
    '',
    '## Self time by package or file',
    ...summary.areas.slice(0, opts.top).map(({ name, share }) => `${percent(share)}  ${name}`)
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
}

main().catch(error => {
  process.stderr.write(`profile: ${error.message}\n`)
  process.exit(1)
})
