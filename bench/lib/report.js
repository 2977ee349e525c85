import { BUSY_MACHINE_CORES } from './measure.js'
import { answers, SCENARIOS } from './scenarios.js'
import { TARGETS } from './targets.js'
import { max, median } from './stats.js'

/** Issue 6's targets: throughput ratios to the ceiling, and a memory bound under S3. */
export const ISSUE_TARGETS = [
  { scenario: 'S2', minRatio: 0.90, bestPeer: '0.40' },
  { scenario: 'S3', minRatio: 0.50, bestPeer: '0.20' },
  { scenario: 'S4', minRatio: 0.90, bestPeer: '0.37' },
  { scenario: 'S5', minRatio: 0.80, bestPeer: '0.14' }
]
export const MAX_S3_RSS_MB = 120

const MB = 2 ** 20
const fixed = digits => value => value === null ? 'n/a' : value.toFixed(digits)
const integer = value => value === null ? 'n/a' : Math.round(value).toLocaleString('en-US')
const ratio = fixed(2)
const ms = fixed(2)
const us = fixed(1)
const percent = value => value === null ? 'n/a' : `${Math.round(value * 100)}%`
const mb = value => value === null ? 'n/a' : (value / MB).toFixed(1)

function row (cells) {
  return `| ${cells.join(' | ')} |`
}

function table (header, rows) {
  return [row(header), row(header.map(() => '---')), ...rows.map(row)].join('\n')
}

/**
 * Per target and scenario: medians over rounds, ratios to the ceiling taken within each round
 * and then their median, and everything that went wrong in any round.
 */
export function summarise (runs, { targets, scenarios, rounds }) {
  const summary = {}
  for (const target of targets) {
    summary[target] = {}
    for (const scenario of scenarios) {
      const records = runs[target][scenario]
      const ceilings = records.map((_, round) => runs.ceiling?.[scenario]?.[round])
      const ratios = records.map((record, round) => ceilings[round] === undefined || ceilings[round].rps === 0 ? null : record.rps / ceilings[round].rps)
      // The same comparison by CPU cost: what the req/s ratio would be if both were CPU-bound.
      const cpuRatios = records.map((record, round) => ceilings[round]?.cpuPerRequestUs == null || !record.cpuPerRequestUs ? null : ceilings[round].cpuPerRequestUs / record.cpuPerRequestUs)
      const statuses = {}
      for (const record of records) {
        for (const [code, count] of Object.entries(record.statuses)) statuses[code] = (statuses[code] ?? 0) + count
      }
      summary[target][scenario] = {
        // A target that trusts one issuer does not run S6 at all: no records, nothing violated.
        skipped: !answers(SCENARIOS[scenario], TARGETS[target]),
        rounds: records.length,
        rps: median(records.map(record => record.rps)),
        ratio: median(ratios),
        cpuRatio: median(cpuRatios),
        targetBusy: median(records.map(record => record.targetBusy)),
        generatorBusy: median(records.map(record => record.generatorBusy)),
        p50: median(records.map(record => record.p50)),
        p99: median(records.map(record => record.p99)),
        cpuPerRequestUs: median(records.map(record => record.cpuPerRequestUs)),
        peakRss: median(records.map(record => record.peakRss)),
        peakRssMax: max(records.map(record => record.peakRss)),
        peakIsPerRun: records.every(record => record.peakIsPerRun),
        statuses,
        expected: records[0]?.expected,
        completed: records.reduce((sum, record) => sum + record.completed, 0)
      }
    }
  }
  return summary
}

/**
 * Every run that broke the scenario's contract: a wrong status, an error, a timeout, a token sent
 * twice, or (S7) a proof pool too small for the run: the run was cut short, never stretched.
 */
export function findViolations (runs) {
  const violations = []
  for (const [target, byScenario] of Object.entries(runs)) {
    for (const [scenario, records] of Object.entries(byScenario)) {
      records.forEach((record, index) => {
        const where = `${target} ${scenario} round ${index + 1}`
        if (record.unexpected > 0) {
          const codes = Object.entries(record.statuses).map(([code, count]) => `${code}×${count}`).join(', ')
          violations.push(`${where}: ${record.unexpected} of ${record.completed} responses were not ${record.expected} (${codes})`)
        }
        if (record.errors > 0 || record.timeouts > 0) violations.push(`${where}: ${record.errors} connection errors, ${record.timeouts} timeouts`)
        if (record.poolSent > record.poolSize && record.poolSize > 0) violations.push(`${where}: ${record.poolSent - record.poolSize} requests reused a token`)
        if (record.shortOfPool) violations.push(`${where}: stopped at the time cap after ${record.completed} of ${record.poolSize} tokens`)
        if (record.proofsMissing > 0) violations.push(`${where}: ${record.proofsMissing} requests found the pool of ${record.proofsSize} proofs empty and went without one`)
        if (record.proofShortConnections > 0) {
          violations.push(`${where}: ${record.proofShortConnections} connections sent their whole share of the ${record.proofsSize} proofs before the run's end, ` +
            'so it went on with fewer connections or ended early; raise --proofs')
        }
      })
    }
  }
  return violations
}

/** For our service: each issue-6 target with ours and every peer, and whether ours meets it. */
export function checkTargets (summary, targets) {
  const authTargets = targets.filter(target => TARGETS[target].auth)
  const checks = []
  for (const { scenario, minRatio, bestPeer } of ISSUE_TARGETS) {
    if (summary.ceiling === undefined || summary.ours?.[scenario] === undefined) continue
    const values = Object.fromEntries(authTargets.map(target => [target, summary[target][scenario]?.ratio ?? null]))
    const byCpu = summary.ours[scenario].cpuRatio
    checks.push({ name: `${scenario} req/s ÷ ceiling`, goal: `>= ${minRatio.toFixed(2)}`, bestPeer, values, byCpu: ratio(byCpu), format: ratio, met: values.ours !== null && values.ours >= minRatio })
  }
  if (summary.ours?.S3 !== undefined) {
    const values = Object.fromEntries(authTargets.map(target => [target, summary[target].S3?.peakRssMax ?? null]))
    checks.push({ name: 'peak RSS under S3, MB (highest round)', goal: `<= ${MAX_S3_RSS_MB}`, bestPeer: '92-158', values, byCpu: '', format: mb, met: values.ours !== null && values.ours <= MAX_S3_RSS_MB * MB })
  }
  return checks
}

/**
 * On a small machine autocannon can be the bottleneck: if the ceiling's process was far from busy
 * while the generator was, req/s ratios near 1 say more about autocannon than about the target.
 */
function bottleneckNote (summary, scenarios) {
  const ceiling = scenarios.map(scenario => summary.ceiling[scenario])
  const targetBusy = median(ceiling.map(s => s.targetBusy))
  const generatorBusy = median(ceiling.map(s => s.generatorBusy))
  const intro = `Against the ceiling, the target process used ${percent(targetBusy)} of a core and autocannon ${percent(generatorBusy)} (medians over scenarios).`
  if (targetBusy !== null && targetBusy < 0.85) {
    return `${intro} The ceiling was not CPU-bound: the load generator set its pace, so a req/s ratio understates what auth costs ` +
      'when the target is fast enough to keep up with autocannon. "ours by CPU cost" is the ceiling\'s CPU per request over ours: ' +
      'the ratio the two would have if both were CPU-bound, and the harder of the two measures.'
  }
  return `${intro} "ours by CPU cost" is the ceiling's CPU per request over ours, the ratio if both were CPU-bound.`
}

function statusText (statuses) {
  return Object.entries(statuses).map(([code, count]) => `${code}×${count.toLocaleString('en-US')}`).join(', ') || 'none'
}

/** The targets a scenario skipped (one issuer, S6; no DPoP, S7), as a sentence for under its tables; '' when none. */
function skippedNote (scenario, targets) {
  const skipped = targets.filter(target => !answers(SCENARIOS[scenario], TARGETS[target]))
  if (skipped.length === 0) return ''
  const they = skipped.length === 1 ? 'It' : 'They'
  if (SCENARIOS[scenario].dpop) {
    return `Not run under ${scenario}: ${skipped.map(target => TARGETS[target].label).join('; ')}. ${they} ` +
      `${skipped.length === 1 ? 'checks' : 'check'} no DPoP proofs, so would refuse the DPoP scheme: skipped, not counted as failing.`
  }
  const trust = skipped.length === 1 ? 'trusts' : 'trust'
  return `Not run under ${scenario}: ${skipped.map(target => TARGETS[target].label).join('; ')}. ${they} ${trust} one issuer, so ` +
    `would answer 401 to every token of the second: skipped, not counted as failing.`
}

function scenarioSection (scenario, summary, targets) {
  const ran = targets.filter(target => !summary[target][scenario].skipped)
  const note = skippedNote(scenario, targets)
  const rows = ran.map(target => {
    const s = summary[target][scenario]
    const wrong = Object.entries(s.statuses).some(([code]) => Number(code) !== s.expected)
    return [
      TARGETS[target].label,
      integer(s.rps),
      summary.ceiling === undefined ? 'n/a' : ratio(s.ratio),
      us(s.cpuPerRequestUs),
      summary.ceiling === undefined ? 'n/a' : ratio(s.cpuRatio),
      ms(s.p50),
      ms(s.p99),
      mb(s.peakRss),
      `${percent(s.targetBusy)} / ${percent(s.generatorBusy)}`,
      `${statusText(s.statuses)}${wrong ? ` **(expected ${s.expected} only)**` : ''}`
    ]
  })
  return [
    `### ${scenario}: ${SCENARIOS[scenario].title}`,
    '',
    table(['target', 'req/s', '× ceiling', 'CPU µs/req', '× ceiling by CPU', 'p50 ms', 'p99 ms', 'peak RSS MB', 'busy: target / autocannon', 'responses (all rounds)'], rows),
    ...(note === '' ? [] : ['', note])
  ].join('\n')
}

/**
 * S2 beside S6 (S2's token on half the requests, the same claims from a second issuer on the
 * other half), for the targets that ran S6 and for `ours`, the single-issuer service: what a
 * second issuer costs, both in trusting it (ours-two-issuers against ours on S2) and in using it.
 */
function secondIssuerSection (summary, scenarios, targets) {
  const hasS2 = scenarios.includes('S2')
  const shown = targets.filter(target => target === 'ours' || !summary[target].S6.skipped)
  const cell = (target, scenario) => {
    const s = summary[target][scenario]
    if (s === undefined) return 'not run'
    if (s.skipped) return 'skipped: one issuer'
    return `${integer(s.rps)} (${summary.ceiling === undefined ? 'n/a' : ratio(s.ratio)})`
  }
  const cpu = (target, scenario) => {
    const s = summary[target][scenario]
    return s === undefined || s.skipped ? '' : us(s.cpuPerRequestUs)
  }
  const rows = shown.map(target => {
    const [two, one] = [summary[target].S6, summary[target].S2]
    const share = hasS2 && !two.skipped && one.rps > 0 ? ratio(two.rps / one.rps) : 'n/a'
    return [TARGETS[target].label, hasS2 ? cell(target, 'S2') : 'not run', cell(target, 'S6'), share, hasS2 ? cpu(target, 'S2') : '', cpu(target, 'S6')]
  })
  return [
    '## A second issuer: S2 beside S6',
    '',
    'Medians over rounds: req/s, with the ratio to the ceiling in the same round in brackets (no issue-6 target applies to S6). ' +
      'S6 sends S2\'s token and, alternately on every connection, the same claims signed by a second issuer. `ours` trusts one ' +
      'issuer and runs S1-S5 only; `ours, two issuers` is the same build with ISSUER_BASE_URL naming both. The ratios to the ' +
      'ceiling compare runs back to back; S6 ÷ S2 compares runs further apart in time, so it is the noisier of the two.',
    '',
    table(['target', 'S2 req/s (× ceiling)', 'S6 req/s (× ceiling)', 'S6 ÷ S2, req/s', 'CPU µs/req, S2', 'CPU µs/req, S6'], rows)
  ].join('\n')
}

/**
 * S7 on its own: each target's CPU per request against the ceiling's on the same requests (what
 * checking token and proof costs it) and against the floor, the least a proof can cost: one ES256
 * signature check and one replay-store insert, timed in the driver at start. With S2 alongside,
 * what the proof adds to the same target's cost of a reused bearer token.
 */
function dpopSection (runs, summary, scenarios, targets, floor) {
  const shown = targets.filter(target => !summary[target].S7.skipped)
  const hasS2 = scenarios.includes('S2')
  const hasCeiling = summary.ceiling !== undefined
  const times = value => value === null || floor === undefined ? 'n/a' : `${(value / floor.floorUs).toFixed(2)}×`
  // Per round, the target's CPU per request less the ceiling's in the same round; then the median.
  const overCeiling = target => median(runs[target].S7.map((record, round) => {
    const ceiling = runs.ceiling?.S7?.[round]?.cpuPerRequestUs
    return ceiling == null || record.cpuPerRequestUs == null ? null : record.cpuPerRequestUs - ceiling
  }))
  const overS2 = target => {
    const [s7, s2] = [summary[target].S7.cpuPerRequestUs, summary[target].S2?.cpuPerRequestUs]
    return s7 === null || s2 == null ? null : s7 - s2
  }
  const rows = shown.map(target => {
    const s = summary[target].S7
    const auth = TARGETS[target].auth
    const over = auth && hasCeiling ? overCeiling(target) : null
    return [
      TARGETS[target].label,
      integer(s.rps),
      hasCeiling ? ratio(s.ratio) : 'n/a',
      us(s.cpuPerRequestUs),
      auth ? us(over) : '',
      auth ? times(s.cpuPerRequestUs) : '',
      auth ? times(over) : '',
      ...(hasS2 ? [auth && !summary[target].S2.skipped ? us(overS2(target)) : ''] : [])
    ]
  })
  const lines = [
    '## DPoP: S7, a fresh proof on every request',
    '',
    'Medians over rounds. S7 sends one DPoP-bound token (`cnf.jkt`) under the DPoP scheme, each request with its own ES256 proof; ' +
      'every target must answer 200 to all of them. "over the ceiling" is the target\'s CPU per request less the ceiling\'s in the same ' +
      'round (the ceiling answers the same requests without looking at them): what checking the token and the proof cost it.'
  ]
  if (floor !== undefined) {
    const ours = summary.ours?.S7
    const oursOver = ours !== undefined && !ours.skipped && hasCeiling ? overCeiling('ours') : null
    lines.push('', `**Floor: ${floor.floorUs.toFixed(1)} µs**, the least CPU a proof can cost a server: one ES256 signature check with node:crypto ` +
      `(${floor.verifyUs.toFixed(1)} µs, the key already imported) plus one insert into a replay store (${floor.storeUs.toFixed(2)} µs, ` +
      `${floor.store}), timed in the driver's process at start (median of 5 batches). Everything else (HTTP, parsing and importing the ` +
      'proof\'s key, hashing the token, the token\'s own check) comes on top. Signing a proof costs the client ' +
      `${floor.signUs.toFixed(1)} µs: each run's proofs are signed before it starts, outside its measurement.`)
    if (ours !== undefined && !ours.skipped) {
      lines.push('', `Our service spent ${us(ours.cpuPerRequestUs)} µs of CPU per S7 request, **${times(ours.cpuPerRequestUs)} the floor**` +
        (oursOver === null ? '.' : `; ${us(oursOver)} µs more than the ceiling on the same requests, ${times(oursOver)} the floor.`))
    }
  }
  lines.push('', table([
    'target', 'req/s', '× ceiling', 'CPU µs/req', 'CPU µs/req over the ceiling', 'CPU ÷ floor', 'over the ceiling ÷ floor',
    ...(hasS2 ? ['CPU µs/req, S7 less S2 (what the proof adds)'] : [])
  ], rows))
  const note = skippedNote('S7', targets)
  if (note !== '') lines.push('', note)
  return lines.join('\n')
}

/**
 * Our service under the cluster module with one worker and with two, side by side. On a machine
 * with few cores autocannon competes with the workers for them: the busy columns show who got what.
 */
function clusterSection (summary, scenarios) {
  const [one, two] = ['ours-cluster-1', 'ours-cluster-2'].map(target => summary[target])
  const rows = scenarios.map(scenario => [
    scenario,
    integer(one[scenario].rps),
    integer(two[scenario].rps),
    one[scenario].rps > 0 ? ratio(two[scenario].rps / one[scenario].rps) : 'n/a',
    us(one[scenario].cpuPerRequestUs),
    us(two[scenario].cpuPerRequestUs),
    `${percent(one[scenario].targetBusy)} / ${percent(one[scenario].generatorBusy)}`,
    `${percent(two[scenario].targetBusy)} / ${percent(two[scenario].generatorBusy)}`
  ])
  return [
    '## Cluster: 1 worker against 2',
    '',
    'Medians over rounds. CPU and busy figures cover the primary and its workers together (100% is one core).',
    '',
    table(['scenario', 'req/s, 1 worker', 'req/s, 2 workers', '2 ÷ 1', 'CPU µs/req, 1', 'CPU µs/req, 2', 'busy 1: service / autocannon', 'busy 2: service / autocannon'], rows)
  ].join('\n')
}

const LOGGING_TARGETS = ['ours-log-requests', 'ours-log-warn']

/**
 * What logging costs: our service at its default (a line per rejection, none per request) against
 * the same service with a line per request, and with no rejection lines, in the same rounds.
 */
function loggingSection (summary, scenarios, targets) {
  const variants = LOGGING_TARGETS.filter(target => targets.includes(target))
  const rows = scenarios.map(scenario => [
    scenario,
    `${integer(summary.ours[scenario].rps)} (${us(summary.ours[scenario].cpuPerRequestUs)} µs)`,
    ...variants.map(target => {
      const { rps, cpuPerRequestUs } = summary[target][scenario]
      const share = summary.ours[scenario].rps > 0 ? ratio(rps / summary.ours[scenario].rps) : 'n/a'
      return `${integer(rps)} (${us(cpuPerRequestUs)} µs), ${share} of default`
    })
  ])
  return [
    '## What logging costs',
    '',
    'Medians over rounds: req/s, with CPU per request in brackets. The default logs one line per rejection and none per accepted request.',
    '',
    table(['scenario', 'ours (default: LOG_LEVEL=info)', ...variants.map(target => TARGETS[target].label)], rows)
  ].join('\n')
}

const disturbed = record => record.backgroundCores !== null && record.backgroundCores >= BUSY_MACHINE_CORES

function roundsSection (runs, targets, scenarios, rounds) {
  const header = ['target', 'scenario', ...Array.from({ length: rounds }, (_, round) => `round ${round + 1}`)]
  const rows = []
  for (const scenario of scenarios) {
    for (const target of targets.filter(target => answers(SCENARIOS[scenario], TARGETS[target]))) {
      rows.push([TARGETS[target].label, scenario, ...runs[target][scenario].map(record => `${integer(record.rps)}${disturbed(record) ? ' *' : ''}`)])
    }
  }
  return table(header, rows)
}

/** How much of the machine other processes took while we measured: the caveat on every number. */
function machineLoadSection (runs) {
  const records = Object.values(runs).flatMap(byScenario => Object.values(byScenario).flat())
  const background = records.map(record => record.backgroundCores)
  const steal = records.map(record => record.stealCores)
  const waited = records.reduce((sum, record) => sum + record.waitedForQuiet, 0)
  const count = records.filter(disturbed).length
  const cores = value => value === null ? 'n/a' : value.toFixed(2)
  return [
    `Other processes used a median of ${cores(median(background))} cores (highest ${cores(max(background))}) during the runs; ` +
      `the hypervisor took a median of ${cores(median(steal))} cores (steal). ` +
      `${count} of ${records.length} runs had other processes above ${BUSY_MACHINE_CORES} cores, marked * below` +
      `${waited > 0 ? `; the driver waited ${Math.round(waited)} s in all for the machine to quieten` : ''}. ` +
      'Disturbances hit targets alike only on average: trust the medians and the CPU-per-request figures over any single run.'
  ].join('\n')
}

export function renderReport ({ runs, options, command, machine, revision, versions, startedAt, elapsedSeconds, tokenTtl, proofFloor }) {
  const { targets, scenarios, rounds } = options
  const summary = summarise(runs, options)
  const violations = findViolations(runs)
  const checks = checkTargets(summary, targets)
  const authTargets = targets.filter(target => TARGETS[target].auth)
  const perRunPeaks = targets.every(target => scenarios.every(scenario => summary[target][scenario].peakIsPerRun))

  const lines = [
    '# Benchmarks',
    '',
    `Generated by \`bench/run.js\` on ${startedAt.toISOString()} in ${Math.round(elapsedSeconds)} s. Rerun with the command below;`,
    'numbers from another machine are not comparable with these, ratios roughly are.',
    '',
    '```sh',
    command,
    '```',
    '',
    '## Machine',
    '',
    `- CPU: ${machine.cpu}, ${machine.cores} cores; ${machine.memoryGb} GB memory`,
    `- Node ${machine.node}; ${machine.os}`,
    `- Service: ${revision}; ${versions.ours.join(', ')}`,
    `- Peers (bench/package-lock.json): ${versions.peers.join(', ')}`,
    `- Load: autocannon ${versions.autocannon} in its own process, ${options.connections} keep-alive connections, ` +
      `${options.duration} s per run (S3: until ${options.tokens.toLocaleString('en-US')} distinct tokens are spent` +
      `${scenarios.includes('S7') ? '; S7: a fresh pool of proofs per run, sized to outlast it' : ''}), ` +
      `${rounds} round${rounds === 1 ? '' : 's'}, ${options.warmup} s warm-up per target`,
    ''
  ]

  if (violations.length > 0) {
    lines.push('## ⚠ VIOLATIONS', '', 'These runs broke their scenario\'s contract; their numbers measure something else.', '')
    lines.push(...violations.map(violation => `- **${violation}**`), '')
  }

  if (checks.length > 0) {
    lines.push('## Issue 6 targets', '')
    lines.push('Ratios are a target\'s req/s over the ceiling\'s in the same round and scenario, then the median over rounds.', '')
    lines.push(table(
      ['measure', 'target', 'best peer (issue)', ...authTargets.map(target => TARGETS[target].label), 'ours meets it', 'ours by CPU cost'],
      checks.map(check => [check.name, check.goal, check.bestPeer, ...authTargets.map(target => check.format(check.values[target])), check.met ? 'yes' : '**no**', check.byCpu])
    ), '')
    if (summary.ceiling !== undefined) lines.push(bottleneckNote(summary, scenarios), '')
  } else if (!targets.includes('ceiling') || !targets.includes('ours')) {
    lines.push('_Issue 6 targets not checked: they need both `ours` and `ceiling` among the targets._', '')
  }

  lines.push('## Results per scenario', '', 'Medians over rounds. CPU is the target process\'s own user + system time divided by the responses it sent.', '')
  for (const scenario of scenarios) lines.push(scenarioSection(scenario, summary, targets), '')

  if (scenarios.includes('S6')) lines.push(secondIssuerSection(summary, scenarios, targets), '')
  if (scenarios.includes('S7')) lines.push(dpopSection(runs, summary, scenarios, targets, proofFloor), '')

  if (targets.includes('ours-cluster-1') && targets.includes('ours-cluster-2')) lines.push(clusterSection(summary, scenarios), '')
  if (targets.includes('ours') && LOGGING_TARGETS.some(target => targets.includes(target))) lines.push(loggingSection(summary, scenarios, targets), '')

  lines.push('## req/s in each round', '', machineLoadSection(runs), '', roundsSection(runs, targets, scenarios, rounds), '')

  lines.push(
    '## How it was measured',
    '',
    '- A key server on 127.0.0.1 publishes OIDC discovery and a JWKS with one RSA-2048 key; every token is RS256, ' +
      `issuer and audience as configured, valid for ${tokenTtl}. Every target gets the same ISSUER_BASE_URL and AUDIENCE` +
      `${targets.some(target => TARGETS[target].issuers >= 2) ? ', but `ours-two-issuers`, whose ISSUER_BASE_URL names a second key server too (S6 below)' : ''}.`,
    '- S2 sends one token (scope `read:profile`) on every request; S4 one token with scope `read:messages`; S5 one token ' +
      'whose header and claims are valid but whose signature was made by another key under the same `kid`.',
    ...(scenarios.includes('S6')
      ? ['- S6 sends two tokens, alternating on every connection: S2\'s, and the same claims from a second key server on 127.0.0.1 ' +
          '(its own issuer, discovery and RSA key). Only targets with auth that trust both issuers run it (`ours-two-issuers`: ' +
          'ISSUER_BASE_URL names both, AUDIENCE as for the rest), and the ceiling; every other target trusts the first issuer alone.']
      : []),
    ...(scenarios.includes('S7')
      ? ['- S7 sends one token with S2\'s claims and `cnf.jkt`, the RFC 7638 thumbprint of a P-256 key made at start, as ' +
          '`Authorization: DPoP <token>`, each request with a `DPoP` proof of its own: ES256, `jwk` in the header, a fresh `jti`, ' +
          '`htm` GET, `htu` the target\'s origin and path, `iat`, `ath`. Proofs are used once (a target keeping a replay store ' +
          'refuses a second use), so before each run the driver signs a pool for that target alone (its rate so far, with ' +
          'headroom) and the load generator sends them in order, one shared cursor over all connections; autocannon caps each ' +
          'connection at its share of the pool, so no proof is sent twice: a pool too small ends the run short, flagged as a violation. ' +
          'Every target is started with PUBLIC_URL set to the origin the load generator uses: our service takes `htu`\'s origin ' +
          'from it, never from the request, and keeps each proof\'s `jti` in its in-memory replay store (no REDIS_URL), as by default.' +
          (targets.includes('express-oauth2')
            ? ' express-oauth2-jwt-bearer runs with `dpop: { enabled: true, required: false }`, its default, and compares `htu` with a ' +
              'URL built from the request: `req.protocol`, the Host header (X-Forwarded-Host when Express trusts the proxy) and the ' +
              'path; autocannon sends Host as the same origin. It keeps no record of `jti` (a proof sent again within its `iat` ' +
              'window is accepted), so inserts into no replay store: it does less per request than the floor assumes.'
            : '')]
      : []),
    `- S3 sends ${options.tokens.toLocaleString('en-US')} tokens, each exactly once, from a pool signed for that round ` +
      '(the targets live through all rounds, so a pool sent twice would meet the first round\'s cache). One cursor is shared by ' +
      'all connections, so no token repeats within a run, by the same connection or another.',
    '- Targets alternate scenario by scenario (the order of targets rotates each round), so drift on the machine hits all alike. ' +
      'Ours and the ceiling always run back to back, which of them first alternating by round: their ratio is what issue 6 measures, ' +
      'and this machine\'s speed drifts within a minute. Many short rounds (by default 10 of 2 s) rather than a few long ones, ' +
      'because back-to-back runs are closer in time and a median over more rounds is steadier: on this machine the same build\'s ' +
      'speed moves by 15-30% between runs a few seconds apart.',
    '- Each target runs as its own node process with its stdout (our service\'s JSON log lines) going to /dev/null; ' +
      'our service runs from `dist/` at its default log level (info) unless the command sets `--ours-env`, and summarises repeated rejections per reason code (LOG_REJECTION_INTERVAL, 10 s: the first of each code in full). ' +
      'The peers log nothing.',
    '- Latency percentiles come from every response\'s own time; req/s is responses over the time from the first request to the last response.',
    perRunPeaks
      ? '- Peak RSS is VmHWM from /proc, reset before each run, so it belongs to that run.'
      : '- Peak RSS is VmHWM from /proc; this kernel did not allow resetting it, so it is the highest since the target started.',
    '- MB is 2^20 bytes.',
    ''
  )
  return { markdown: lines.join('\n'), violations, checks }
}
