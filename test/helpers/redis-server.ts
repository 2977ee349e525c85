import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { connect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import type { Test } from 'tap'

export const REDIS_MISSING = 'redis-server not installed: apt-get install -y redis-server (Debian) to run the Redis tests'

/** Whether `command` runs from PATH. */
export function onPath (command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).error === undefined
}

/** The two things a test file can do when Redis is missing; a tap `Test` has both. */
export interface SkipOrFail {
  plan: (count: number, comment: string) => void
  fail: (message: string) => unknown
}

/**
 * True when redis-server can be started. Otherwise skips the whole test file with one line saying
 * how to install it, except in CI (CI=true), where a missing Redis fails the run: CI must not go
 * green by skipping the Redis tests.
 */
export function requireRedisServer (
  t: SkipOrFail,
  { ci = process.env.CI === 'true', installed = onPath('redis-server') }: { ci?: boolean, installed?: boolean } = {}
): boolean {
  if (installed) return true
  if (ci) t.fail(REDIS_MISSING)
  else t.plan(0, REDIS_MISSING)
  return false
}

export interface RedisServer {
  /** redis://[:password@]127.0.0.1:port */
  url: string
  port: number
  /** Kills it at once (SIGKILL), as a crash or a lost host would: an outage. */
  stop: () => Promise<void>
  /** Starts it again on the same port, empty. */
  start: () => Promise<void>
  /** SIGSTOP / SIGCONT: a Redis that keeps its connections open but answers nothing. */
  pause: () => void
  resume: () => void
}

/** A real redis-server on a free loopback port, stopped when the test ends. */
export async function startRedisServer (t: Test, { password }: { password?: string } = {}): Promise<RedisServer> {
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir()]
  if (password !== undefined) args.push('--requirepass', password)
  let child: ChildProcess | undefined
  const stop = async (): Promise<void> => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return
    const exited = once(running, 'exit')
    running.kill('SIGCONT')
    running.kill('SIGKILL')
    await exited
  }
  const start = async (): Promise<void> => {
    await stop()
    child = spawn('redis-server', args, { stdio: 'ignore' })
    await acceptsConnections(port, child)
  }
  const signal = (name: NodeJS.Signals): void => { child?.kill(name) }
  t.teardown(stop)
  await start()
  const credentials = password === undefined ? '' : `:${encodeURIComponent(password)}@`
  return { url: `redis://${credentials}127.0.0.1:${port}`, port, stop, start, pause: () => { signal('SIGSTOP') }, resume: () => { signal('SIGCONT') } }
}

/** A port nothing listens on now: bind to port 0, read what the kernel chose, let it go. */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

/** Polls until a TCP connection to the port succeeds; fails if the server exits or 5 s pass. */
async function acceptsConnections (port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 5000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode} before accepting connections on port ${port}`)
    if (await connects(port)) return
    if (Date.now() > deadline) throw new Error(`redis-server did not accept connections on port ${port} within 5 s`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

async function connects (port: number): Promise<boolean> {
  const socket = connect(port, '127.0.0.1')
  try {
    await once(socket, 'connect')
    return true
  } catch {
    return false
  } finally {
    socket.destroy()
  }
}
