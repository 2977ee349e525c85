import { execFileSync, spawn } from 'node:child_process'
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { test, type Test } from 'tap'
import { destinationFor, jsonDestination, logFormat, PIPE_BUF, prettyDestination } from '../src/log-destination.js'
import { loggerOptions } from '../src/logger.js'

const LOG_THEN_EXIT = fileURLToPath(new URL('./fixtures/log-then-exit.ts', import.meta.url))

type Destination = ReturnType<typeof jsonDestination>
const lineOf = (i: number): string => `${JSON.stringify({ i, msg: 'x'.repeat(80) })}\n`
const flushed = async (destination: Destination): Promise<void> => { await new Promise<void>(resolve => { destination.flush(() => { resolve() }) }) }
const fileLines = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean).map(line => JSON.parse(line) as Record<string, unknown>)

function scratchDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'log-destination-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

/** An empty file to log into, open for writing, closed after the test. */
function logFile (t: Test): { path: string, fd: number } {
  const path = join(scratchDir(t), 'log')
  const fd = openSync(path, 'w')
  t.teardown(() => { closeSync(fd) })
  return { path, fd }
}

/** A named pipe with a non-blocking read end and a blocking write end, as stdout is for a service run with node. */
function namedPipe (t: Test): { readFd: number, writeFd: number } {
  const path = join(scratchDir(t), 'pipe')
  execFileSync('mkfifo', [path])
  const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
  const writeFd = openSync(path, constants.O_WRONLY)
  t.teardown(() => { closeSync(readFd); closeSync(writeFd) })
  return { readFd, writeFd }
}

/** Fills a pipe through a non-blocking descriptor of its own; returns how many bytes it wrote. */
function fillPipe (fd: number): number {
  const filler = openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK)
  let written = 0
  try {
    for (;;) written += writeSync(filler, 'f'.repeat(4096))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error
  } finally {
    closeSync(filler)
  }
  return written
}

/** Everything readable from a non-blocking descriptor until `done` says so. */
async function readUntil (fd: number, done: (text: string) => boolean): Promise<string> {
  const buffer = Buffer.alloc(65536)
  let text = ''
  for (let idle = 0; !done(text);) {
    let bytes = 0
    try {
      bytes = readSync(fd, buffer)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error
    }
    text += buffer.toString('utf8', 0, bytes)
    if (bytes > 0) idle = 0
    else if (++idle > 2000) throw new Error('nothing more to read')
    else await new Promise(resolve => setTimeout(resolve, 1))
  }
  return text
}

/** Runs test/fixtures/log-then-exit.ts with stdout on `stdout` (a pipe read here by default). */
async function logThenExit (args: string[], stdout: 'pipe' | number = 'pipe'): Promise<{ code: number | null, stdout: string, ms: number }> {
  const started = Date.now()
  const child = spawn(process.execPath, [...process.execArgv, LOG_THEN_EXIT, ...args], { stdio: ['pipe', stdout, 'inherit'] })
  let text = ''
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', chunk => { text += chunk })
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  return { code, stdout: text, ms: Date.now() - started }
}

test('pretty lines only for a terminal, and never in production', async t => {
  t.equal(logFormat(true, undefined), 'pretty', 'npm start in a terminal')
  t.equal(logFormat(true, 'development'), 'pretty')
  t.equal(logFormat(false, undefined), 'json', 'a pipe, a file, a log collector, the tests')
  for (const nodeEnv of ['production', ' Production ']) {
    t.equal(logFormat(true, nodeEnv), 'json', `a terminal with NODE_ENV=${JSON.stringify(nodeEnv)} (docker run -t)`)
  }
})

test('the pretty destination formats the service\'s lines for a person, credentials still redacted', async t => {
  let text = ''
  const screen = new Writable({ write (chunk: Buffer, _encoding, done) { text += chunk.toString(); done() } })
  const logger = pino(loggerOptions(), prettyDestination(screen, false))
  logger.info({ code: 'AUTH_TOKEN_MALFORMED', statusCode: 401, headers: { authorization: 'Bearer abc.def.ghi' } }, 'request rejected')
  await new Promise(resolve => setImmediate(resolve))
  t.match(text, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: request rejected\n/, 'time, level and message first')
  t.match(text, /code: "AUTH_TOKEN_MALFORMED"/)
  t.match(text, /"authorization": "\[REDACTED\]"/)
  t.notMatch(text, /abc\.def\.ghi|"level"|hostname|pid/, 'no token, no JSON line, no pid or host name')
})

test('each format written to a descriptor: pretty or JSON lines', async t => {
  const pretty = logFile(t)
  const json = logFile(t)
  const prettyLogger = pino(loggerOptions(), destinationFor('pretty', pretty.fd))
  const jsonDestination = destinationFor('json', json.fd) as Destination
  const jsonLogger = pino(loggerOptions(), jsonDestination)
  for (const logger of [prettyLogger, jsonLogger]) logger.warn({ code: 'X' }, 'hello')
  await flushed(jsonDestination)
  await new Promise(resolve => setImmediate(resolve))
  t.match(readFileSync(pretty.path, 'utf8'), /^\[[\d:.]+\] WARN: hello\n {4}code: "X"\n$/)
  t.match(fileLines(json.path), [{ level: 40, code: 'X', msg: 'hello' }])
})

test('JSON lines arrive whole and in order; flush calls back once they are written', async t => {
  const { path, fd } = logFile(t)
  const destination = jsonDestination({ fd, maxPendingBytes: 2 ** 24 })
  const lines = Array.from({ length: 500 }, (_, i) => lineOf(i))
  for (const line of lines) destination.write(line)
  await flushed(destination)
  t.equal(readFileSync(path, 'utf8'), lines.join(''))
})

test('a few lines do not wait for more: they are written within about 100 ms', async t => {
  const { path, fd } = logFile(t)
  const destination = jsonDestination({ fd, maxPendingBytes: 2 ** 24 })
  destination.write(lineOf(1))
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal(readFileSync(path, 'utf8'), lineOf(1))
})

test('a reader that stops reading blocks no call; past the cap lines are dropped, and a line says how many', async t => {
  const { readFd, writeFd } = namedPipe(t)
  const filler = fillPipe(writeFd)
  const line = lineOf(0)
  const destination = jsonDestination({ fd: writeFd, maxPendingBytes: 20 * line.length })
  const started = Date.now()
  for (let i = 0; i < 100; i++) destination.write(lineOf(i))
  t.ok(Date.now() - started < 500, 'writing into a full pipe returned at once')
  await new Promise(resolve => setTimeout(resolve, 100))
  const text = await readUntil(readFd, received => received.includes('"dropped"'))
  const lines = text.slice(filler).split('\n').filter(Boolean).map(line => JSON.parse(line) as { i?: number, dropped?: number })
  const kept = lines.filter(line => line.i !== undefined)
  t.same(kept.map(line => line.i), Array.from({ length: kept.length }, (_, i) => i), 'the first lines, in order')
  t.ok(kept.length <= 20, `at most the cap waited (${kept.length})`)
  t.match(lines.at(-1), { level: 40, dropped: 100 - kept.length, msg: /^log lines dropped/ }, 'the count follows the lines kept')
})

test('a count whose notice finds no room either waits for the next write, whole', async t => {
  const { path, fd } = logFile(t)
  const line = `${JSON.stringify({ msg: 'short' })}\n`
  const destination = jsonDestination({ fd, maxPendingBytes: 3 * line.length }) // less than a notice
  const dropped: string[] = []
  destination.on('drop', (data: string) => { dropped.push(data) })
  const overflow = async (lines: number): Promise<void> => {
    for (let i = 0; i < lines; i++) destination.write(line)
    await new Promise(resolve => setTimeout(resolve, 250)) // the periodic flush writes what fits
  }
  await overflow(5)
  await overflow(4)
  // Tried after every write, the periodic flush's included; each attempt that finds no room is dropped too.
  const counts = dropped.filter(data => data.includes('"dropped"')).map(data => (JSON.parse(data) as { dropped: number }).dropped)
  t.same([...new Set(counts)], [2, 3], 'the later notices count the earlier lines too, never a notice')
  t.equal(readFileSync(path, 'utf8'), line.repeat(6))
})

test('writers sharing a pipe (cluster workers) never tear each other\'s lines', async t => {
  const { readFd, writeFd } = namedPipe(t)
  const destinations = [0, 1].map(() => jsonDestination({ fd: writeFd, maxPendingBytes: 2 ** 24, sharedPipe: true }))
  const perWriter = 3000
  destinations.forEach((destination, w) => {
    for (let i = 0; i < perWriter; i++) destination.write(`${JSON.stringify({ w, i, pad: 'p'.repeat(i % 300) })}\n`)
  })
  const total = perWriter * 2
  const text = await readUntil(readFd, received => received.split('\n').length > total)
  const lines = text.split('\n').filter(Boolean).map(line => JSON.parse(line) as { w: number, i?: number })
  t.equal(lines.length, total, 'every line whole')
  for (const w of [0, 1]) t.same(lines.filter(line => line.w === w).map(line => line.i), Array.from({ length: perWriter }, (_, i) => i), `writer ${w} in order`)
  t.equal(PIPE_BUF, 4096)
})

test('a failing write (ENOSPC) never ends the process, and its lines are tried again', async t => {
  const fd = openSync('/dev/full', 'w')
  t.teardown(() => { closeSync(fd) })
  const destination = jsonDestination({ fd, maxPendingBytes: 2 ** 20 })
  const errors: string[] = []
  destination.on('error', (error: NodeJS.ErrnoException) => { errors.push(error.code as string) })
  for (let i = 0; i < 100; i++) destination.write(lineOf(i))
  await new Promise(resolve => setTimeout(resolve, 250))
  t.ok(errors.length >= 2, `tried again (${errors.length} attempts)`)
  t.same([...new Set(errors)], ['ENOSPC'])
  destination.flushSync() // the exit's flush: returns rather than retrying forever
  t.pass('flushSync returned')
})

test('the process: lines logged just before process.exit() reach stdout', async t => {
  const { code, stdout } = await logThenExit(['2000'])
  t.equal(code, 0)
  const lines = stdout.split('\n').filter(Boolean).map(line => JSON.parse(line) as { i: number, msg: string })
  t.same(lines.map(line => line.i), Array.from({ length: 2000 }, (_, i) => i), 'every line, in order')
})

test('the process: a stdout that fails (a full disk) does not keep it from exiting', async t => {
  const full = openSync('/dev/full', 'w')
  t.teardown(() => { closeSync(full) })
  const { code, ms } = await logThenExit(['100', '300'], full)
  t.equal(code, 0)
  t.ok(ms < 10_000, `exited in ${ms} ms`)
})
