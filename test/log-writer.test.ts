import { execFileSync, spawn } from 'node:child_process'
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test, type Test } from 'tap'
import { LogLineWriter } from '../src/log-writer.js'

const LOG_THEN_EXIT = fileURLToPath(new URL('./fixtures/log-then-exit.ts', import.meta.url))

const lineOf = (i: number): string => `${JSON.stringify({ i, msg: 'x'.repeat(80) })}\n`
const flushed = async (writer: LogLineWriter): Promise<void> => { await new Promise<void>(resolve => { writer.flush(resolve) }) }

function scratchDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'log-writer-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

/**
 * A named pipe with a non-blocking read end. Its write end is non-blocking too, as stdout is when a
 * Node parent reads it (a full pipe answers EAGAIN), unless `blockingWrites`.
 */
function namedPipe (t: Test, { blockingWrites = false } = {}): { readFd: number, writeFd: number } {
  const path = join(scratchDir(t), 'pipe')
  execFileSync('mkfifo', [path])
  const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
  const writeFd = openSync(path, constants.O_WRONLY | (blockingWrites ? 0 : constants.O_NONBLOCK))
  t.teardown(() => { closeSync(readFd); closeSync(writeFd) })
  return { readFd, writeFd }
}

/** What a non-blocking descriptor holds right now. */
function readAvailable (fd: number): string {
  const buffer = Buffer.alloc(2 ** 17)
  try {
    return buffer.toString('utf8', 0, readSync(fd, buffer))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return ''
    throw error
  }
}

/** Everything readable from a non-blocking descriptor until `done` says so. */
async function readUntil (fd: number, done: (text: string) => boolean): Promise<string> {
  const buffer = Buffer.alloc(65536)
  let text = ''
  for (let idle = 0; !done(text); ) {
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

test('lines arrive whole and in order, and flush calls back once they are written', async t => {
  const path = join(scratchDir(t), 'log')
  const fd = openSync(path, 'w')
  t.teardown(() => { closeSync(fd) })
  const writer = new LogLineWriter({ fd, maxPendingChars: 2 ** 20 })
  const expected: string[] = []
  for (let turn = 0; turn < 5; turn++) {
    for (let i = 0; i < 200; i++) {
      const line = lineOf(turn * 200 + i)
      expected.push(line)
      t.equal(writer.write(line), true)
    }
    await new Promise(resolve => setImmediate(resolve))
  }
  await flushed(writer)
  t.equal(readFileSync(path, 'utf8'), expected.join(''))
})

test('a full pipe is retried until its reader takes every line', async t => {
  const { readFd, writeFd } = namedPipe(t)
  const writer = new LogLineWriter({ fd: writeFd, maxPendingChars: 2 ** 20 })
  const lines = Array.from({ length: 3000 }, (_, i) => lineOf(i)) // about 280 KB: four times what a pipe holds
  for (const line of lines) writer.write(line)
  let flushedYet = false
  writer.flush(() => { flushedYet = true })
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(flushedYet, false, 'not flushed while the reader is stalled')

  const expected = lines.join('')
  const received = await readUntil(readFd, text => text.length >= expected.length)
  t.equal(received, expected)
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(flushedYet, true)
})

test('flushSync leaves a write already running to the thread pool: no line twice', async t => {
  const { readFd, writeFd } = namedPipe(t, { blockingWrites: true })
  const filler = 'f'.repeat(65536)
  writeSync(writeFd, filler) // the pipe is full: the writer's next write waits on the thread pool
  const writer = new LogLineWriter({ fd: writeFd, maxPendingChars: 2 ** 20 })
  writer.write(lineOf(1))
  await new Promise(resolve => setTimeout(resolve, 50))
  writer.flushSync()
  const expected = filler + lineOf(1)
  const received = await readUntil(readFd, text => text.length >= expected.length)
  await flushed(writer)
  t.equal(received + readAvailable(readFd), expected)
})

test('flushSync while a full pipe waits for a retry: each line once', async t => {
  const { readFd, writeFd } = namedPipe(t)
  const writer = new LogLineWriter({ fd: writeFd, maxPendingChars: 2 ** 20 })
  const lines = Array.from({ length: 1000 }, (_, i) => lineOf(i)) // about 90 KB: more than the pipe holds
  for (const line of lines) writer.write(line)
  await new Promise(resolve => setTimeout(resolve, 30)) // the pipe is full; a retry waits
  let received = readAvailable(readFd)
  writer.flushSync() // writes the rest now; the waiting retry must not write it again
  const expected = lines.join('')
  received += await readUntil(readFd, text => received.length + text.length >= expected.length)
  await flushed(writer)
  await new Promise(resolve => setTimeout(resolve, 100))
  received += readAvailable(readFd)
  t.equal(received, expected)
})

test('past the pending limit lines are dropped, and a line says how many', async t => {
  const path = join(scratchDir(t), 'log')
  const fd = openSync(path, 'w')
  t.teardown(() => { closeSync(fd) })
  const line = lineOf(0)
  const writer = new LogLineWriter({ fd, maxPendingChars: line.length * 3 })
  const accepted = Array.from({ length: 10 }, () => writer.write(line))
  t.same(accepted, [true, true, true, false, false, false, false, false, false, false])
  await flushed(writer)
  const written = readFileSync(path, 'utf8').split('\n').filter(Boolean)
  t.same(written.slice(0, 3), [line.trim(), line.trim(), line.trim()])
  t.equal(written.length, 4)
  t.match(JSON.parse(written[3] as string), { level: 40, pid: process.pid, dropped: 7, msg: 'log lines dropped: stdout was not read fast enough' })

  t.equal(writer.write(line), true, 'room again once written')
  await flushed(writer)
  t.equal(readFileSync(path, 'utf8').split('\n').filter(Boolean).length, 5)
})

test('a reader that is gone (EPIPE) stops the writing, never the process', async t => {
  const path = join(scratchDir(t), 'pipe')
  execFileSync('mkfifo', [path])
  const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
  const writeFd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK)
  t.teardown(() => { closeSync(writeFd) })
  closeSync(readFd)
  const writer = new LogLineWriter({ fd: writeFd, maxPendingChars: 2 ** 20 })
  t.equal(writer.write(lineOf(1)), true)
  await flushed(writer)
  t.equal(writer.write(lineOf(2)), false, 'later lines are refused')
  await flushed(writer)
  writer.flushSync()
  t.pass('no throw, and flush still calls back')
})

test('flushSync writes what waits, and retries a full pipe', async t => {
  const { readFd, writeFd } = namedPipe(t)
  const writer = new LogLineWriter({ fd: writeFd, maxPendingChars: 2 ** 20 })
  const lines = Array.from({ length: 500 }, (_, i) => lineOf(i)) // about 45 KB: fits the pipe
  for (const line of lines) writer.write(line)
  writer.flushSync() // before the event loop could write anything
  t.equal(readAvailable(readFd), lines.join(''), 'all of it, at once')

  // A pipe that stays full: flushSync gives up after its retries rather than hang the exit.
  const filler = Array.from({ length: 1000 }, (_, i) => lineOf(i))
  for (const line of filler) writer.write(line)
  writer.flushSync()
  t.pass('returned with the pipe still full')
})

test('the process: lines logged just before process.exit() reach stdout', async t => {
  const child = spawn(process.execPath, [...process.execArgv, LOG_THEN_EXIT, '2000'])
  let stdout = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', chunk => { stdout += chunk })
  const code = await new Promise(resolve => child.on('close', resolve))
  t.equal(code, 0)
  const lines = stdout.split('\n').filter(Boolean).map(line => JSON.parse(line) as { i: number, msg: string })
  t.equal(lines.length, 2000)
  t.same(lines.map(line => line.i), Array.from({ length: 2000 }, (_, i) => i), 'every line, in order')
})
