import { parseArgs } from 'node:util'
import { answers, SCENARIO_NAMES, SCENARIOS } from './scenarios.js'
import { DEFAULT_TARGET_NAMES, TARGET_NAMES, TARGETS } from './targets.js'

export const HELP = `Usage: node bench/run.js [options]

Options (each also settable through the environment variable shown):
  --duration <s>       seconds of load per run (S3 runs stop at the pool size)  BENCH_DURATION  [2]
  --rounds <n>         rounds; every target runs every scenario once per round   BENCH_ROUNDS    [10]
  --connections <n>    keep-alive connections                                    BENCH_CONNECTIONS [50]
  --warmup <s>         seconds of mixed, unmeasured load per target at start     BENCH_WARMUP    [2]
  --tokens <n>         distinct tokens per round for S3                          BENCH_TOKENS    [10000]
  --proofs <n>         DPoP proofs signed for each S7 run (each sent once; a run
                       stops short, flagged, when they run out)                  BENCH_PROOFS    [from the target's earlier rates]
  --targets <list>     comma-separated: ${TARGET_NAMES.join(', ')}
                       (ours-cluster-*, ours-log-*, ours-two-issuers only when named) BENCH_TARGETS   [${DEFAULT_TARGET_NAMES.join(',')}]
  --scenarios <list>   comma-separated: ${SCENARIO_NAMES.join(', ')}
                       (S6, two issuers, needs ours-two-issuers among the targets;
                       the peers trust one issuer and skip it. S7, DPoP, only when
                       named; targets that check no DPoP proofs skip it)         BENCH_SCENARIOS [all that the targets can run, but S7]
  --quiet-wait <s>     before each run, wait up to this long for other processes
                       to go quiet (0: don't)                                    BENCH_QUIET_WAIT [1]
  --ours-env <K=V>     extra environment for our service, repeatable,
                       e.g. --ours-env LOG_LEVEL=warn --ours-env TOKEN_CACHE_SIZE=0
  --out <file>         the markdown report, relative to the repository root;
                       "-" for stdout only                                      BENCH_OUT [BENCHMARKS.md]
  --check              exit 1 when our service misses any target of issue 6
  --help

Quick run: node bench/run.js --duration 2 --rounds 1 --targets ours,ceiling
Cluster, 1 vs 2 workers: node bench/run.js --targets ours-cluster-1,ours-cluster-2 --scenarios S2 --out -
What logging costs: node bench/run.js --targets ours,ours-log-requests,ours-log-warn,ceiling --scenarios S1,S2,S5
What a second issuer costs: node bench/run.js --targets ours,ours-two-issuers,ceiling --scenarios S2,S6 --out -
DPoP, a fresh proof per request: node bench/run.js --targets ours,ceiling,express-oauth2 --scenarios S2,S7 --out -
`

function positiveInteger (name, value) {
  const number = Number(value)
  if (!Number.isInteger(number) || number < 1) throw new Error(`--${name} must be a positive integer, got "${value}"`)
  return number
}

function list (name, value, allowed) {
  const items = value.split(',').map(item => item.trim()).filter(Boolean)
  for (const item of items) {
    if (!allowed.includes(item)) throw new Error(`--${name}: unknown "${item}"; choose from ${allowed.join(', ')}`)
  }
  if (items.length === 0) throw new Error(`--${name} names nothing`)
  return allowed.filter(item => items.includes(item)) // keep the canonical order
}

function environmentPairs (pairs) {
  const env = {}
  for (const pair of pairs) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(pair)
    if (match === null) throw new Error(`--ours-env wants KEY=VALUE, got "${pair}"`)
    env[match[1]] = match[2]
  }
  return env
}

/**
 * Whether some target with auth can answer a scenario. S6 needs one that trusts two issuers; a run
 * of S6 with only the ceiling (and peers, which skip it) would measure nothing of ours. S7 needs
 * one that checks DPoP proofs.
 */
function runnable (scenario, targets) {
  const issuers = SCENARIOS[scenario].issuers ?? 1
  const dpop = SCENARIOS[scenario].dpop === true
  return (issuers === 1 && !dpop) || targets.some(name => TARGETS[name].auth && answers(SCENARIOS[scenario], TARGETS[name]))
}

/** A proof older than this when its run ends would meet the 300 s limit of the service and of the Express SDK. */
const MAX_PROOF_AGE_SECONDS = 240

/** Flags win over environment variables, which win over the defaults. */
export function parseOptions (argv, env = process.env) {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      warmup: { type: 'string' },
      tokens: { type: 'string' },
      proofs: { type: 'string' },
      targets: { type: 'string' },
      scenarios: { type: 'string' },
      'quiet-wait': { type: 'string' },
      'ours-env': { type: 'string', multiple: true },
      out: { type: 'string' },
      check: { type: 'boolean' },
      help: { type: 'boolean' }
    },
    strict: true
  })
  const pick = (flag, variable, fallback) => values[flag] ?? env[variable] ?? fallback
  const options = {
    help: values.help === true,
    duration: positiveInteger('duration', pick('duration', 'BENCH_DURATION', '2')),
    rounds: positiveInteger('rounds', pick('rounds', 'BENCH_ROUNDS', '10')),
    connections: positiveInteger('connections', pick('connections', 'BENCH_CONNECTIONS', '50')),
    warmup: Number(pick('warmup', 'BENCH_WARMUP', '2')),
    tokens: positiveInteger('tokens', pick('tokens', 'BENCH_TOKENS', '10000')),
    proofs: pick('proofs', 'BENCH_PROOFS', undefined) === undefined ? undefined : positiveInteger('proofs', pick('proofs', 'BENCH_PROOFS')),
    targets: list('targets', pick('targets', 'BENCH_TARGETS', DEFAULT_TARGET_NAMES.join(',')), TARGET_NAMES),
    scenarios: null,
    quietWait: Number(pick('quiet-wait', 'BENCH_QUIET_WAIT', '1')),
    oursEnv: environmentPairs(values['ours-env'] ?? []),
    out: pick('out', 'BENCH_OUT', 'BENCHMARKS.md'),
    check: values.check === true
  }
  const named = pick('scenarios', 'BENCH_SCENARIOS', undefined)
  options.scenarios = named === undefined
    ? SCENARIO_NAMES.filter(scenario => !SCENARIOS[scenario].optIn && runnable(scenario, options.targets))
    : list('scenarios', named, SCENARIO_NAMES)
  for (const scenario of options.scenarios) {
    if (runnable(scenario, options.targets)) continue
    if (SCENARIOS[scenario].dpop) throw new Error(`--scenarios: ${scenario} needs a target that checks DPoP proofs; add ours (or express-oauth2) to --targets`)
    throw new Error(`--scenarios: ${scenario} needs a target that trusts two issuers; add ours-two-issuers to --targets`)
  }
  const dpop = options.scenarios.some(scenario => SCENARIOS[scenario].dpop)
  if (dpop && options.duration + options.quietWait > MAX_PROOF_AGE_SECONDS) {
    throw new Error(`--duration plus --quiet-wait must stay under ${MAX_PROOF_AGE_SECONDS} s with S7: its proofs are signed before the wait, and expire at 300 s`)
  }
  if (dpop && options.proofs !== undefined && options.proofs < options.connections) throw new Error('--proofs must be at least --connections (autocannon gives every connection a share)')
  if (!(options.warmup >= 0)) throw new Error(`--warmup must be a number of seconds >= 0, got "${pick('warmup', 'BENCH_WARMUP')}"`)
  if (!(options.quietWait >= 0)) throw new Error('--quiet-wait must be a number of seconds >= 0')
  if (options.tokens < options.connections) throw new Error('--tokens must be at least --connections (autocannon gives every connection a share)')
  return options
}
