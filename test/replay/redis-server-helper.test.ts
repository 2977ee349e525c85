import t from 'tap'
import { onPath, REDIS_MISSING, requireRedisServer, type SkipOrFail } from '../helpers/redis-server.js'

t.test('without redis-server the Redis tests are skipped with one line, but fail in CI', async t => {
  const calls: string[] = []
  const file: SkipOrFail = {
    plan: (count, comment) => { calls.push(`plan(${count}) # ${comment}`) },
    fail: message => { calls.push(`fail: ${message}`) }
  }
  t.equal(requireRedisServer(file, { ci: false, installed: true }), true)
  t.equal(requireRedisServer(file, { ci: true, installed: true }), true)
  t.same(calls, [], 'installed: the tests just run')
  t.equal(requireRedisServer(file, { ci: false, installed: false }), false)
  t.same(calls, [`plan(0) # ${REDIS_MISSING}`], 'locally: skipped, saying how to install it')
  t.equal(requireRedisServer(file, { ci: true, installed: false }), false)
  t.same(calls.at(-1), `fail: ${REDIS_MISSING}`, 'in CI: a failure')
  t.equal(REDIS_MISSING, 'redis-server not installed: apt-get install -y redis-server (Debian) to run the Redis tests')
  t.equal(onPath('redis-server'), requireRedisServer(file), 'the default looks on PATH')
  t.equal(onPath('no-such-command-for-this-test'), false)
})
