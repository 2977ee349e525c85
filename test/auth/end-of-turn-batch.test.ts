import { test } from 'tap'
import { EndOfTurnBatch } from '../../src/auth/end-of-turn-batch.js'

const nextTurn = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

test('jobs added in one turn run together after it, in order; jobs they add wait for the next', async t => {
  const batch = new EndOfTurnBatch()
  const ran: string[] = []
  batch.add(() => { ran.push('a') })
  batch.add(() => {
    ran.push('b')
    batch.add(() => { ran.push('c, added by b') })
  })
  t.same(ran, [], 'nothing runs in the turn that added it')
  await nextTurn()
  t.same(ran, ['a', 'b'])
  await nextTurn()
  t.same(ran, ['a', 'b', 'c, added by b'])
})

test('a job that throws does not stop the others; the error surfaces after them', async t => {
  const batch = new EndOfTurnBatch()
  const ran: string[] = []
  const bug = new Error('a bug in a job')
  const uncaught = new Promise<unknown>(resolve => { process.once('uncaughtException', resolve) })
  batch.add(() => { ran.push('a') })
  batch.add(() => { throw bug })
  batch.add(() => { ran.push('c') })
  t.equal(await uncaught, bug)
  t.same(ran, ['a', 'c'])
})
