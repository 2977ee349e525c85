import { execFileSync, spawn } from 'node:child_process'
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test, type Test } from 'tap'
import { LogLineWriter, PIPE_BUF } from '../src/log-writer.js'

const LOG_THEN_EXIT = fileURLToPath(new URL('./fixtures/log-then-exit.ts', import.meta.url))

const lineOf = (i: number): string => `${JSON.stringify({ i, msg: 'x'.repeat(80) })}\n`
const flushed = async (writer: LogLineWriter): Promise<void> => { await new Promise<void>(resolve => { writer.flush(resolve) }) }

function scratchDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'log-writer-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

/** An empty file to log into, open for writing, closed and removed after the test. */
function logFile (t: Test): { path: string, fd: number } {
  const path = join(scratchDir(t), 'log')
  const fd = openSync(path, 'w')
  t.teardown(() => { closeSync(fd) })
  return { path, fd }
}

/** Fills a pipe through a non-blocking descriptor of its own; returns what it wrote. */
function fillPipe (fd: number): string {
  const filler = openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK)
  let written = ''
  try {
    for (;;) written += 'f'.repeat(writeSync(filler, 'f'.repeat(4096)))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error
  } finally {
    closeSync(filler)
  }
  return written
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
  const { path, fd } = logFile(t)
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

test('any text arrives byte for byte: multi-byte characters, long lines, large batches', async t => {
  const { path, fd } = logFile(t)
  const writer = new LogLineWriter({ fd, maxPendingChars: 2 ** 24 })
  const expected: string[] = []
  let refused = 0
  const send = (line: string): void => {
    expected.push(line)
    if (!writer.write(line)) refused++
  }
  for (let turn = 0; turn < 4; turn++) {
    // About 400 KB in one batch, multi-byte characters throughout.
    for (let i = 0; i < 2000; i++) send(`${JSON.stringify({ turn, i, text: 'é中😀'.repeat(i % 17), pad: 'p'.repeat(i % 150) })}\n`)
    send(`${JSON.stringify({ turn, long: 'ł€𝄞x'.repeat(30_000) })}\n`)
    send('ascii after the long line\n')
    await flushed(writer)
  }
  send(`${'x'.repeat(50_000)}\n`)
  await flushed(writer)
  t.equal(refused, 0, 'every line accepted')
  const text = readFileSync(path, 'utf8')
  t.equal(Buffer.byteLength(text), Buffer.byteLength(expected.join('')))
  t.ok(text === expected.join(''), 'the file holds exactly the lines, in order')
})

test('a full pipe is retried until its reader takes every line', async t => {
  const { readFd, writeFd } = namedPipe(t)
  const writer = new LogLineWriter({ fd: writeFd, maxPendingChars: 2 ** 20 })
  const lines = Array.from({ length: 3000 }, (_, i) => lineOf(i)) // about 280 KB: four times what a pipe holds
  for (const line of lines.slice(0, -1)) writer.write(line)
  await new Promise(resolve => setTimeout(resolve, 30)) // the batch waits for room in the pipe
  writer.write(lines.at(-1) as string) // and this line waits for the batch
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

test('flush calls back once the lines before it are written, while more keep coming', async t => {
  const { path, fd } = logFile(t)
  const writer = new LogLineWriter({ fd, maxPendingChars: 2 ** 20 })
  let sent = 0
  const steady = setInterval(() => { writer.write(lineOf(sent++)) }, 1)
  t.teardown(() => { clearInterval(steady) })
  await new Promise(resolve => setTimeout(resolve, 30))
  const before = sent
  await flushed(writer) // would wait forever if it waited for the writer to be idle
  const written = readFileSync(path, 'utf8').split('\n').filter(Boolean)
  t.ok(written.length >= before, `the ${before} lines written before flush() are in the file`)
  clearInterval(steady)
})

test('writeWaitingSync (process exit) writes what waits at once, then refuses lines', async t => {
  const { readFd, writeFd } = namedPipe(t)
  const writer = new LogLineWriter({ fd: writeFd, maxPendingChars: 2 ** 20 })
  const lines = Array.from({ length: 500 }, (_, i) => lineOf(i)) // about 45 KB: fits the pipe
  for (const line of lines) writer.write(line)
  writer.writeWaitingSync() // before the event loop could write anything
  t.equal(readAvailable(readFd), lines.join(''), 'all of it, at once')
  t.equal(writer.write(lineOf(500)), false, 'closed')
  await flushed(writer)
  t.equal(readAvailable(readFd), '', 'nothing more, and flush still calls back')
})

test('writeWaitingSync gives a pipe that stays full up, after its retries', async t => {
  const { readFd, writeFd } = namedPipe(t)
  fillPipe(writeFd)
  const writer = new LogLineWriter({ fd: writeFd, maxPendingChars: 2 ** 20 })
  writer.write(lineOf(1))
  writer.writeWaitingSync() // returns (a hang here would time the test out)
  const held = readAvailable(readFd)
  t.notOk(held.includes(lineOf(1)), 'the line was given up, not written')
})

test('writeWaitingSync while a full pipe waits for a retry: each line once', async t => {
  const { readFd, writeFd } = namedPipe(t)
  const writer = new LogLineWriter({ fd: writeFd, maxPendingChars: 2 ** 20 })
  const lines = Array.from({ length: 1000 }, (_, i) => lineOf(i)) // about 90 KB: more than the pipe holds
  for (const line of lines) writer.write(line)
  await new Promise(resolve => setTimeout(resolve, 30)) // the pipe is full; a retry waits
  let received = readAvailable(readFd)
  writer.writeWaitingSync() // writes the rest now; the waiting retry must not write it again
  await new Promise(resolve => setTimeout(resolve, 100))
  received += readAvailable(readFd)
  t.equal(received, lines.join(''))
})

test('writeWaitingSync leaves a write already running on the thread pool: no line twice', async t => {
  const { readFd, writeFd } = namedPipe(t, { blockingWrites: true })
  const filler = fillPipe(writeFd) // the writer's next write waits on the thread pool
  const writer = new LogLineWriter({ fd: writeFd, maxPendingChars: 2 ** 20 })
  writer.write(lineOf(1))
  writer.flush(() => {}) // starts the write now, rather than after the batch delay: it blocks on the full pipe
  writer.writeWaitingSync()
  const expected = filler + lineOf(1)
  const received = await readUntil(readFd, text => text.length >= expected.length)
  await new Promise(resolve => setTimeout(resolve, 50))
  t.equal(received + readAvailable(readFd), expected)
})

test('past the pending limit lines are dropped, and a line says how many', async t => {
  const { path, fd } = logFile(t)
  const line = lineOf(0)
  const writer = new LogLineWriter({ fd, maxPendingChars: line.length * 3 })
  const accepted = Array.from({ length: 10 }, () => writer.write(line))
  t.same(accepted, [true, true, true, false, false, false, false, false, false, false])
  await flushed(writer)
  const written = readFileSync(path, 'utf8').split('\n').filter(Boolean)
  t.same(written.slice(0, 3), [line.trim(), line.trim(), line.trim()])
  t.equal(written.length, 4)
  t.match(JSON.parse(written[3] as string), { level: 40, pid: process.pid, dropped: 7, msg: /^log lines dropped/ })

  t.equal(writer.write(line), true, 'room again once written')
  await flushed(writer)
  t.equal(readFileSync(path, 'utf8').split('\n').filter(Boolean).length, 5)

  t.equal(writer.write('x'.repeat(line.length * 4) + '\n'), false, 'a line longer than the limit, alone')
  await flushed(writer) // the drop count alone is written: flush does not wait for another line
  t.match(JSON.parse(readFileSync(path, 'utf8').split('\n').filter(Boolean)[5] as string), { dropped: 1 })
})

test('the limit counts the lines being written too', async t => {
  const { readFd, writeFd } = namedPipe(t)
  fillPipe(writeFd)
  const line = lineOf(0)
  const writer = new LogLineWriter({ fd: writeFd, maxPendingChars: line.length * 2 })
  t.same([writer.write(line), writer.write(line)], [true, true])
  await new Promise(resolve => setTimeout(resolve, 30)) // both are being written, into a full pipe
  t.equal(writer.write(line), false, 'no room while they wait')
  readUntil(readFd, () => false).catch(() => {}) // drain, so the writer can finish
  await flushed(writer)
  t.equal(writer.write(line), true)
})

test('a failed write (ENOSPC) loses its lines, counted, and the writing goes on', async t => {
  const fd = openSync('/dev/full', 'w')
  t.teardown(() => { closeSync(fd) })
  const writer = new LogLineWriter({ fd, maxPendingChars: 2 ** 20 })
  t.equal(writer.write(lineOf(1)), true)
  await flushed(writer)
  t.equal(writer.write(lineOf(2)), true, 'not closed: a disk can have room again')
  await flushed(writer)
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
  let calledBack = false
  writer.flush(() => { calledBack = true })
  await flushed(writer)
  t.equal(calledBack, true, 'a flush waiting on the failed write calls back')
  t.equal(writer.write(lineOf(2)), false, 'later lines are refused')
  writer.writeWaitingSync()
  t.equal(writer.write(lineOf(3)), false)
})

test('a line longer than maxWriteBytes goes whole, ended or not', async t => {
  const { path, fd } = logFile(t)
  const writer = new LogLineWriter({ fd, maxPendingChars: 2 ** 20, maxWriteBytes: 8 })
  writer.write('a line of twenty-odd bytes\n')
  writer.write('and one with no end')
  await flushed(writer)
  t.equal(readFileSync(path, 'utf8'), 'a line of twenty-odd bytes\nand one with no end')
})

test('writers sharing a pipe (cluster workers) never tear each other\'s lines at PIPE_BUF', async t => {
  const { readFd, writeFd } = namedPipe(t)
  const writers = [0, 1].map(() => new LogLineWriter({ fd: writeFd, maxPendingChars: 2 ** 24, maxWriteBytes: PIPE_BUF }))
  const perWriter = 3000
  writers.forEach((writer, w) => {
    for (let i = 0; i < perWriter; i++) writer.write(`${JSON.stringify({ w, i, pad: 'p'.repeat(i % 300) })}\n`)
  })
  const total = perWriter * 2
  const text = await readUntil(readFd, received => received.split('\n').length > total)
  const lines = text.split('\n').filter(Boolean).map(line => JSON.parse(line) as { w: number, i?: number })
  t.equal(lines.length, total, 'every line whole')
  for (const w of [0, 1]) t.same(lines.filter(line => line.w === w).map(line => line.i), Array.from({ length: perWriter }, (_, i) => i), `writer ${w} in order`)
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
