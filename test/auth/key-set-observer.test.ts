import pino from 'pino'
import { test, type Test } from 'tap'
import { KeySet, type KeySetFetch } from '../../src/auth/key-set.js'
import { LogCapture } from '../helpers/app.js'
import { KeyServer, makeKey } from '../helpers/key-server.js'

// The fetch observer the metrics use: told about every fetch, never able to change what the key set does.

async function keySetAgainst (t: Test, behaviour: KeyServer['behaviour'] = 'ok') {
  const server = await KeyServer.start([makeKey('EC')])
  server.behaviour = behaviour
  const logs = new LogCapture()
  const keySet = new KeySet({
    issuer: server.issuer,
    jwksUri: undefined,
    algorithms: ['ES256'],
    timeoutMs: 1000,
    maxBytes: 64 * 1024,
    ttlMs: 60_000,
    cooldownMs: 60_000,
    staleLimitMs: 60_000,
    log: pino({ level: 'debug' }, logs)
  })
  t.teardown(async () => { keySet.close(); await server.close() })
  return { server, keySet, logs }
}

test('each completed fetch is reported with its outcome and duration', async t => {
  const { server, keySet } = await keySetAgainst(t)
  const fetches: KeySetFetch[] = []
  keySet.onFetch(fetch => fetches.push(fetch))
  await keySet.start()
  server.behaviour = 'error'
  await keySet.refresh()
  t.same(fetches.map(fetch => fetch.ok), [true, false])
  for (const fetch of fetches) t.ok(fetch.durationMs >= 0 && fetch.durationMs < 1000, 'a duration in ms')
})

test('without an observer nothing is reported, and everything works as before', async t => {
  const { keySet } = await keySetAgainst(t)
  await keySet.start()
  t.equal(keySet.status().ready, true)
})

test('an observer that throws is logged and changes nothing', async t => {
  const { keySet, logs } = await keySetAgainst(t)
  keySet.onFetch(() => { throw new Error('observer bug') })
  await keySet.start()
  t.equal(keySet.status().ready, true, 'the set loaded all the same')
  t.equal(keySet.status().reason, undefined, 'and no failure was recorded')
  t.match(logs.lines.find(line => line.msg === 'the key set fetch observer failed'), { level: 50, err: { message: 'observer bug' } })
})

test('a fetch aborted by close() is not reported', async t => {
  const { keySet } = await keySetAgainst(t, 'hang')
  const fetches: KeySetFetch[] = []
  keySet.onFetch(fetch => fetches.push(fetch))
  const started = keySet.start()
  keySet.close()
  await started
  t.same(fetches, [])
})
