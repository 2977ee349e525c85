import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { test } from 'tap'
import { envFor } from './helpers/app.js'
import { KeyServer } from './helpers/key-server.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/main-then-throw.ts', import.meta.url))

test('the process: an unexpected error after start-up is logged, the server closes, exit 1', async t => {
  const keys = await KeyServer.start()
  t.teardown(() => keys.close())
  const child = spawn(process.execPath, [...process.execArgv, FIXTURE, JSON.stringify({ ...envFor(keys), PORT: '0' })])
  let stdout = ''
  child.stdout.on('data', chunk => { stdout += chunk })
  const code = await new Promise(resolve => child.on('close', resolve))
  t.equal(code, 1)
  t.match(stdout, /"msg":"closing after an unexpected error"/)
  t.match(stdout, /a bug after start-up/)
})
