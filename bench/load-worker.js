// The load generator, run by lib/load.js as its own process so that autocannon never shares an
// event loop with the server it measures. It receives one plan over IPC, runs it, answers with a
// summary, and exits.
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import autocannon from 'autocannon'

// Latencies are recorded here from each response rather than read from autocannon's histogram,
// which keeps whole milliseconds only; throughput is timed here too, from the first request to
// the last response, since autocannon notices the end of a run only at its next sampling tick.
function summarise ({ result, latencies, count, startedAt, lastResponseAt, pool, proofs, cpuStart }) {
  const sorted = latencies.subarray(0, count).sort()
  const percentile = p => count === 0 ? null : sorted[Math.min(count - 1, Math.ceil(p / 100 * count) - 1)]
  const seconds = (lastResponseAt - startedAt) / 1000
  const statuses = {}
  for (const [code, { count: n }] of Object.entries(result.statusCodeStats)) statuses[code] = n
  return {
    completed: count,
    seconds,
    rps: seconds > 0 ? count / seconds : 0,
    p50: percentile(50),
    p99: percentile(99),
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    poolSent: pool?.sent ?? 0,
    poolSize: pool?.tokens.length ?? 0,
    ...(proofs === undefined
      ? {}
      : { proofsSent: proofs.sent, proofsSize: proofs.proofs.length, proofsMissing: proofs.missing, proofShortConnections: proofs.shortConnections }),
    // Share of one core this generator used: near 1 means it, not the target, set the pace.
    generatorBusy: seconds > 0 ? cpuTotal(process.cpuUsage(cpuStart)) / (seconds * 1e6) : null,
    // Everything this process used since it started, so the driver can tell other processes' load apart.
    generatorCpuUs: cpuTotal(process.cpuUsage())
  }
}

const cpuTotal = ({ user, system }) => user + system

/**
 * One shared cursor over the pool: each request takes the next token, so within a run no token
 * is ever sent twice, by the same connection or another, as long as the run sends no more
 * requests than the pool holds (the driver sets `amount` to the pool size to make sure of it).
 */
function tokenPool (file) {
  const pool = { tokens: JSON.parse(readFileSync(file, 'utf8')), sent: 0 }
  pool.next = () => pool.tokens[pool.sent++ % pool.tokens.length]
  return pool
}

/**
 * S7's DPoP proofs: one shared cursor, as for S3's tokens, but never wrapping round, since a
 * proof sent twice is a replay the target must refuse. The driver caps the run's requests at the
 * pool's size (`maxOverallRequests`: autocannon gives each connection an equal share, and closes
 * a connection that has sent its share), so the pool cannot run dry; should it anyway, the request
 * goes without a proof, and is both answered 401 and counted in `missing`. `shortConnections`
 * counts connections closed for having sent their whole share: the pool was too small for the
 * run, which then went on with fewer connections, or ended early.
 */
function proofPool (file) {
  const pool = { proofs: JSON.parse(readFileSync(file, 'utf8')), sent: 0, missing: 0, shortConnections: 0 }
  pool.next = () => {
    if (pool.sent < pool.proofs.length) return pool.proofs[pool.sent++]
    pool.missing++
    return undefined
  }
  return pool
}

function autocannonRequests (requests, pool, proofs) {
  return requests.map(({ path, token, usePool, scheme = 'Bearer', useProofs }) => {
    const request = { method: 'GET', path }
    if (token !== undefined) request.headers = { authorization: `${scheme} ${token}` }
    if (usePool) {
      request.setupRequest = built => {
        built.headers.authorization = `Bearer ${pool.next()}`
        return built
      }
    }
    if (useProofs) {
      request.setupRequest = built => {
        const proof = proofs.next()
        if (proof === undefined) delete built.headers.dpop
        else built.headers.dpop = proof
        return built
      }
    }
    return request
  })
}

function run (plan) {
  const pool = plan.poolFile === undefined ? undefined : tokenPool(plan.poolFile)
  const proofs = plan.proofFile === undefined ? undefined : proofPool(plan.proofFile)
  let latencies = new Float64Array(1 << 16)
  let count = 0
  let lastResponseAt = 0
  const cpuStart = process.cpuUsage()
  const startedAt = performance.now()
  const instance = autocannon({
    url: plan.url,
    connections: plan.connections,
    duration: plan.duration,
    amount: plan.amount,
    ...(plan.maxOverallRequests === undefined ? {} : { maxOverallRequests: plan.maxOverallRequests }),
    requests: autocannonRequests(plan.requests, pool, proofs),
    ...(proofs === undefined ? {} : { setupClient: client => watchShare(client, proofs) }),
    sampleInt: 250,
    timeout: 10
  }, (error, result) => {
    clearTimeout(cap)
    if (error) return process.send({ error: String(error.stack ?? error) }, () => process.exit(1))
    process.send({ result: summarise({ result, latencies, count, startedAt, lastResponseAt, pool, proofs, cpuStart }) }, () => process.exit(0))
  })
  instance.on('response', (_client, _status, _bytes, responseTime) => {
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2)
      grown.set(latencies)
      latencies = grown
    }
    latencies[count++] = responseTime
    lastResponseAt = performance.now()
  })
  // A run bounded by `amount` has no duration: stop it anyway if the target is far too slow.
  const cap = setTimeout(() => instance.stop(), plan.capSeconds * 1000)
}

/**
 * A connection closes itself when it has sent its share of the requests (`responseMax`, set from
 * maxOverallRequests) and wants to send another; at the run's normal end it is closed having sent
 * fewer. Counted either way once it has sent its whole share: the pool held no more for it.
 */
function watchShare (client, proofs) {
  client.once('done', () => {
    if (client.responseMax > 0 && client.reqsMade >= client.responseMax) proofs.shortConnections++
  })
}

// The driver's death closes the channel; follow it rather than keep loading a server.
process.once('disconnect', () => process.exit(0))
process.once('message', run)
