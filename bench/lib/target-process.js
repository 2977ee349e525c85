import { spawn } from 'node:child_process'
import { get } from 'node:http'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { track } from './cleanup.js'

const WATCH_PARENT = new URL('./watch-parent.js', import.meta.url).href
const READY_TIMEOUT_MS = 20_000
const STOP_TIMEOUT_MS = 12_000 // the service drains for up to 10 s on SIGTERM
const STDERR_KEPT = 4096

/** A free loopback port: bind port 0, note what the kernel picked, let it go. */
export function freePort () {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

/**
 * Starts one target as a child node process and resolves once it answers on its port.
 * Its environment is built from scratch (PATH and HOME only, plus what is given) so a
 * developer's shell or `.env` cannot change what is measured; its working directory is `cwd`
 * for the same reason. Its stdout (the service's JSON logs) goes to /dev/null: the target still
 * pays for formatting and writing every line, as it would into a log collector's pipe.
 */
export async function startTarget ({ name, entry }, { port, env, cwd, nodeArgs = [] }) {
  const url = `http://127.0.0.1:${port}`
  // PUBLIC_URL: the origin the load generator sends to, which S7's proofs name in `htu` (our
  // service reads it; the peers ignore it). A target's own env may still set another.
  const child = track(spawn(process.execPath, [...nodeArgs, '--import', WATCH_PARENT, entry], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PUBLIC_URL: url, ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc']
  }))
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', chunk => { stderr = (stderr + chunk).slice(-STDERR_KEPT) })
  const exited = new Promise(resolve => child.once('exit', (code, signal) => resolve({ code, signal })))

  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    const outcome = await Promise.race([answers(`${url}/api/public`), exited])
    if (outcome === true) break
    if (typeof outcome === 'object') {
      throw new Error(`${name} exited during start-up (${outcome.signal ?? `code ${outcome.code}`}):\n${stderr}`)
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${name} did not answer on ${url} within ${READY_TIMEOUT_MS / 1000} s:\n${stderr}`)
    }
    await sleep(50)
  }

  return {
    name,
    pid: child.pid,
    url,
    stderr: () => stderr,
    exited,
    /** SIGTERM, then SIGKILL if it has not exited in time. Resolves once it is gone. */
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return exited
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
      const result = await exited
      clearTimeout(timer)
      return result
    }
  }
}

/** True when the URL answers 200; false on any error or other status. Never hangs past 1 s. */
function answers (url) {
  return new Promise(resolve => {
    const request = get(url, { agent: false, timeout: 1000 }, response => {
      response.resume()
      resolve(response.statusCode === 200)
    })
    request.once('timeout', () => request.destroy())
    request.once('error', () => resolve(false))
  })
}
