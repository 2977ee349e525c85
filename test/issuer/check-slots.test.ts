import t from 'tap'
import { CheckSlots } from '../../src/issuer/check-slots.js'
import { SECRETS, clientCredentials, postToken, startTestIssuer } from './helpers.js'

/** A check that finishes when told to, and says when it started. */
function gate (started: string[], name: string): { check: () => Promise<string>, open: () => void } {
  let open = (): void => {}
  const done = new Promise<void>(resolve => { open = resolve })
  return { check: async () => { started.push(name); await done; return name }, open }
}

t.test('two run at once, two wait in order, the rest are refused at once', async t => {
  const slots = new CheckSlots(2, 2)
  const started: string[] = []
  const gates = ['a', 'b', 'c', 'd', 'e'].map(name => gate(started, name))
  const results = gates.map(({ check }) => slots.run(check))
  t.equal(await results[4], undefined, 'the fifth finds the queue full')
  await new Promise(resolve => setImmediate(resolve))
  t.same(started, ['a', 'b'])
  gates[1].open()
  t.equal(await results[1], 'b')
  await new Promise(resolve => setImmediate(resolve))
  // A newcomer while c runs and d waits: it queues behind d, never ahead.
  const late = gate(started, 'late')
  const lateResult = slots.run(late.check)
  t.same(started, ['a', 'b', 'c'])
  for (const index of [0, 2]) gates[index].open()
  t.equal(await results[0], 'a')
  t.equal(await results[2], 'c')
  await new Promise(resolve => setImmediate(resolve))
  t.same(started, ['a', 'b', 'c', 'd', 'late'])
  gates[3].open()
  late.open()
  t.same(await Promise.all([results[3], lateResult]), ['d', 'late'])
  // Every slot is free again: two start at once.
  const again = [gate(started, 'x'), gate(started, 'y')]
  const both = again.map(({ check }) => slots.run(check))
  await new Promise(resolve => setImmediate(resolve))
  t.same(started.slice(-2), ['x', 'y'])
  for (const { open } of again) open()
  t.same(await Promise.all(both), ['x', 'y'])
})

t.test('a check that fails frees its slot', async t => {
  const slots = new CheckSlots(1, 0)
  await t.rejects(slots.run(async () => { throw new Error('boom') }), { message: 'boom' })
  t.equal(await slots.run(async () => 'next'), 'next')
})

t.test('a flood of made-up credentials is answered 503 beyond what can wait, and the issuer keeps serving', async t => {
  // Each wrong secret costs a full scrypt on purpose (an unknown client costs the same as a known
  // one). Two run at once and 64 may wait; the others are told to come back, at once.
  const { issuer } = await startTestIssuer(t)
  const calls = await Promise.all(Array.from({ length: 100 }, async () => await postToken(issuer, clientCredentials('nobody', 'guess'))))
  const busy = calls.filter(call => call.status === 503)
  t.same([...new Set(calls.map(call => call.status))].sort(), [401, 503], `refused as wrong, or as busy (${calls.filter(call => call.status === 503).length} of 100)`)
  t.same(busy[0].body, { error: 'temporarily_unavailable', error_description: 'too many token requests at once: retry in a second' })
  t.equal(busy[0].headers.get('retry-after'), '1')
  const after = await postToken(issuer, clientCredentials('m2m-reader', SECRETS.reader))
  t.equal(after.status, 200, 'every slot was given back')
})
