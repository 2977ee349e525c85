// The issuer CLI: spawned for start-up, shutdown and one rotation; in-process for the rest.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import t from 'tap'
import { ISSUER_USAGE, runIssuerCommand, shutdown } from '../../src/issuer/issuer-command.js'
import { cliScript, memoryIo, runCli } from './cli-helpers.js'
import { testDirs } from './helpers.js'

t.test('issuer CLI: runs until SIGTERM, then shuts down gracefully', async t => {
  const { configPath, keyDir } = await testDirs(t)
  const child = spawn(process.execPath, [...process.execArgv, cliScript('cli.ts')], {
    env: { ...process.env, LOCAL_ISSUER_PORT: '0', LOCAL_ISSUER_CONFIG: configPath, LOCAL_ISSUER_KEY_DIR: keyDir, NODE_ENV: 'development' }
  })
  t.teardown(() => { child.kill('SIGKILL') })
  const lines: Array<Record<string, unknown>> = []
  let issuer = ''
  for await (const line of createInterface({ input: child.stdout })) {
    const entry = JSON.parse(line) as Record<string, unknown>
    lines.push(entry)
    if (typeof entry.issuer === 'string') { issuer = entry.issuer; break }
  }
  t.match(issuer, /^http:\/\/localhost:\d+\/$/)
  t.match(lines.at(-1), { level: 40, msg: /^DEVELOPMENT authorization server/ })
  const discovery = await (await fetch(new URL('.well-known/openid-configuration', issuer))).json() as { issuer: string }
  t.equal(discovery.issuer, issuer)

  const rest: string[] = []
  const collected = (async () => { for await (const line of createInterface({ input: child.stdout })) rest.push(line) })()
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit') as [number | null]
  await collected
  t.equal(code, 0)
  t.ok(rest.map(line => JSON.parse(line) as Record<string, unknown>).some(entry => entry.msg === 'SIGTERM received: shutting down'), 'logs why it stops')
})

t.test('issuer CLI: start-up failures are one line on stderr and exit 1', async t => {
  const { configPath, keyDir } = await testDirs(t, { apis: 'none' })
  const bad = await runCli('cli.ts', [], { LOCAL_ISSUER_PORT: '0', LOCAL_ISSUER_CONFIG: configPath, LOCAL_ISSUER_KEY_DIR: keyDir, NODE_ENV: '' })
  t.equal(bad.code, 1)
  t.equal(bad.stderr, `local issuer: Invalid local issuer config ${configPath}: apis must be an array\n`)
  const production = await runCli('cli.ts', ['start'], { NODE_ENV: 'production' })
  t.equal(production.code, 1)
  t.match(production.stderr, /^local issuer: The local development issuer refuses to run with NODE_ENV=production: set ISSUER_BASE_URL/)
})

t.test('issuer CLI: rotate and retire', async t => {
  const { keyDir } = await testDirs(t)
  const env = { LOCAL_ISSUER_KEY_DIR: keyDir, NODE_ENV: '' }
  const first = await runCli('cli.ts', ['rotate'], env)
  t.equal(first.code, 0)
  const [, kid1] = /^Added signing key ([\w-]+)\./.exec(first.stdout) ?? []
  t.equal(first.stdout, `Added signing key ${kid1}. Published keys: ${kid1} (signing).\nTokens signed with older keys keep verifying until you retire them.\n`)

  const io = memoryIo()
  t.equal(await runIssuerCommand(['rotate'], env, io), 0)
  const [, kid2] = /^Added signing key ([\w-]+)\./.exec(io.stdout[0] ?? '') ?? []
  t.equal(io.stdout[0], `Added signing key ${kid2}. Published keys: ${kid1}, ${kid2} (signing).`)

  const retire = memoryIo()
  t.equal(await runIssuerCommand(['retire'], env, retire), 0)
  t.same(retire.stdout, [`Retired ${kid1}. Published keys: ${kid2} (signing).`])
  const nothing = memoryIo()
  t.equal(await runIssuerCommand(['retire'], env, nothing), 0)
  t.same(nothing.stdout, [`Nothing to retire. Published keys: ${kid2} (signing).`])
})

t.test('issuer CLI: usage', async t => {
  for (const args of [['bogus'], ['rotate', 'now']]) {
    const io = memoryIo()
    t.equal(await runIssuerCommand(args, {}, io), 1)
    t.same(io.stderr, [ISSUER_USAGE])
  }
  const help = memoryIo()
  t.equal(await runIssuerCommand(['help'], {}, help), 0)
  t.same(help.stdout, [ISSUER_USAGE])
})

t.test('issuer CLI: shutdown says why', async t => {
  const logged: string[] = []
  let closed = 0
  const log = { info: (msg: string) => { logged.push(msg) }, error: (_fields: unknown, msg: string) => { logged.push(msg) } }
  const issuer = { app: { log }, close: async () => { closed++ } } as unknown as Parameters<typeof shutdown>[0]
  await shutdown(issuer)({ signal: 'SIGINT' })
  await shutdown(issuer)({ err: new Error('boom') })
  t.same(logged, ['SIGINT received: shutting down', 'shutting down after an error'])
  t.equal(closed, 2)
})
