// Stored secrets: scrypt with salt and parameters in one string, compared in constant time, a few
// checks at a time.
import t from 'tap'
import { CheckSlots, DEFAULT_SCRYPT_PARAMS, UNMATCHABLE_HASH, hashSecret, parseSecretHash, verifySecret, type SecretHash } from '../../src/issuer/secret-hash.js'
import { SECRETS, clientCredentials, postToken, startTestIssuer } from './helpers.js'

t.test('hash and verify', async t => {
  const stored = await hashSecret('local-reader-secret')
  t.match(stored, /^scrypt\$N=16384,r=8,p=1\$[\w-]{22}\$[\w-]{43}$/)
  t.not(await hashSecret('local-reader-secret'), stored, 'a fresh salt every time')
  const parsed = parseSecretHash(stored) as SecretHash
  t.match(parsed, { ...DEFAULT_SCRYPT_PARAMS })
  t.equal(await verifySecret('local-reader-secret', parsed), true)
  t.equal(await verifySecret('local-reader-secreT', parsed), false)
  t.equal(await verifySecret('', parsed), false)
  t.equal(await verifySecret('local-reader-secret', UNMATCHABLE_HASH), false)
})

t.test('other parameters are honoured', async t => {
  const stored = await hashSecret('s', { cost: 2048, blockSize: 4, parallelization: 2 })
  t.match(stored, /^scrypt\$N=2048,r=4,p=2\$/)
  t.equal(await verifySecret('s', parseSecretHash(stored) as SecretHash), true)
})

t.test('malformed or unreasonable hashes are explained', async t => {
  const salt = 'A'.repeat(22)
  const hash = 'B'.repeat(43)
  const format = 'must look like scrypt$N=16384,r=8,p=1$<salt>$<hash> (make one with the hash-secret command)'
  const cost = 'has N outside the powers of two from 1024 to 1048576'
  const blocks = 'has r outside 1..32 or p outside 1..16'
  const heavy = 'asks for more than 256 MiB or 32 times the default work per check (lower N, r or p)'
  const cases: Array<[string, string]> = [
    ['plain-text', format],
    [`scrypt$N=16384,r=8$${salt}$${hash}`, format],
    [`scrypt$N=16384,r=8,p=1$short$${hash}`, format],
    [`scrypt$N=16384,r=8,p=1$${salt}$short`, format],
    [`scrypt$N=1000,r=8,p=1$${salt}$${hash}`, cost],
    [`scrypt$N=512,r=8,p=1$${salt}$${hash}`, cost],
    [`scrypt$N=2097152,r=8,p=1$${salt}$${hash}`, cost],
    [`scrypt$N=99999999999999999999,r=8,p=1$${salt}$${hash}`, cost],
    [`scrypt$N=16384,r=0,p=1$${salt}$${hash}`, blocks],
    [`scrypt$N=16384,r=33,p=1$${salt}$${hash}`, blocks],
    [`scrypt$N=16384,r=8,p=0$${salt}$${hash}`, blocks],
    [`scrypt$N=16384,r=8,p=17$${salt}$${hash}`, blocks],
    [`scrypt$N=1048576,r=32,p=1$${salt}$${hash}`, heavy],
    [`scrypt$N=1048576,r=4,p=1$${salt}$${hash}`, heavy],
    [`scrypt$N=65536,r=32,p=16$${salt}$${hash}`, heavy],
    [`scrypt$N=16384,r=8,p=33$${salt}$${hash}`, blocks]
  ]
  // At the bounds: 256 MiB (N * r = 2^21), and 32 times the default work (N * r * p = 2^22).
  for (const text of [`scrypt$N=1048576,r=2,p=2$${salt}$${hash}`, `scrypt$N=65536,r=32,p=2$${salt}$${hash}`, `scrypt$N=1024,r=32,p=16$${salt}$${hash}`]) {
    t.type(parseSecretHash(text), 'object', text)
  }
  for (const [text, reason] of cases) t.equal(parseSecretHash(text), reason, text)
})

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
