import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { test, type Test } from 'tap'
import { DpopProofSigner } from '../../src/dpop/proof-signer.js'
import { envFor } from '../helpers/app.js'
import { KeyServer } from '../helpers/key-server.js'
import { freePort } from '../helpers/ports.js'
import { requireRedisServer, startRedisServer } from '../helpers/redis-server.js'

// Two replicas of the service, two real processes behind one public URL, sharing one real Redis:
// a proof accepted by one is a replay to the other. Then Redis goes away mid-run and comes back.

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url))
const PUBLIC_URL = 'https://api.example.test'

/** `npm start` as a replica would run it, on a free port; resolves once it listens. */
async function startReplica (t: Test, env: Record<string, string>): Promise<string> {
  const port = await freePort()
  const child: ChildProcess = spawn(process.execPath, [...process.execArgv, MAIN], {
    // The test runner's environment carries its TypeScript loader's settings.
    env: { ...process.env, ...env, PORT: String(port), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(async () => {
    if (child.exitCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    await exited
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const deadline = Date.now() + 20_000
  while (!output.includes('Server listening')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`replica did not start: ${output}`)
    await sleep(20)
  }
  return `http://127.0.0.1:${port}`
}

test('a proof used at one replica is refused at the other; Redis down means 503 for DPoP only', async t => {
  if (!requireRedisServer(t)) return
  const redis = await startRedisServer(t)
  const keys = await KeyServer.start()
  t.teardown(() => keys.close())
  const env = envFor(keys, { REDIS_URL: redis.url, PUBLIC_URL })
  const [one, two] = await Promise.all([startReplica(t, env), startReplica(t, env)])

  const signer = new DpopProofSigner()
  const token = keys.sign(keys.claims({ cnf: { jkt: signer.thumbprint } }))
  const proof = () => signer.proof({ htm: 'GET', htu: `${PUBLIC_URL}/api/private`, accessToken: token })
  const dpopCall = (replica: string, dpop: string) =>
    fetch(`${replica}/api/private`, { headers: { authorization: `DPoP ${token}`, dpop } })
  const codeOf = async (response: Response) => ((await response.json()) as { code?: string }).code

  const shared = proof()
  t.equal((await dpopCall(one, shared)).status, 200, 'the first use, at replica one')
  const replayed = await dpopCall(two, shared)
  t.equal(replayed.status, 401, 'the same proof at replica two')
  t.equal(await codeOf(replayed), 'AUTH_DPOP_PROOF_REPLAYED')
  t.equal((await dpopCall(two, proof())).status, 200, 'a new proof at replica two')

  await redis.stop()
  const down = await dpopCall(one, proof())
  t.equal(down.status, 503, 'no replay check, no DPoP request: fail closed')
  t.equal(await codeOf(down), 'AUTH_REPLAY_STORE_UNAVAILABLE')
  t.equal(down.headers.get('retry-after'), '1')
  t.match(down.headers.get('www-authenticate'), /^DPoP realm="api", algs="[^"]+", Bearer realm="api"$/)
  const bearer = await fetch(`${one}/api/private`, { headers: { authorization: `Bearer ${keys.sign()}` } })
  t.equal(bearer.status, 200, 'bearer traffic does not need the store')
  const ready = await fetch(`${one}/health/ready`)
  t.equal(ready.status, 200, 'still ready: only DPoP requests need the store')
  const body = await ready.json() as { replayStore: { kind: string, ready: boolean, reason: string } }
  t.match(body.replayStore, { kind: 'redis', ready: false, reason: new RegExp(`^redis at 127\\.0\\.0\\.1:${redis.port} is `) }, 'readiness says why')

  await redis.start()
  const deadline = Date.now() + 10_000
  let status = 0
  while (status !== 200 && Date.now() < deadline) {
    status = (await dpopCall(two, proof())).status
    if (status !== 200) await sleep(100)
  }
  t.equal(status, 200, 'Redis back: DPoP requests are accepted again, with no restart')
})

test('DPOP=required and Redis unreachable: not ready, and readiness says why', async t => {
  if (!requireRedisServer(t)) return
  const keys = await KeyServer.start()
  t.teardown(() => keys.close())
  const unused = await freePort()
  const replica = await startReplica(t, envFor(keys, { REDIS_URL: `redis://127.0.0.1:${unused}`, DPOP: 'required' }))
  const ready = await fetch(`${replica}/health/ready`)
  t.equal(ready.status, 503)
  t.match(await ready.json(), { status: 'not ready', replayStore: { kind: 'redis', ready: false, reason: /is unreachable|not connected/ } })
})
