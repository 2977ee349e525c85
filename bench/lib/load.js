import { fork } from 'node:child_process'
import { track } from './cleanup.js'

const WORKER = new URL('../load-worker.js', import.meta.url)
const GRACE_SECONDS = 20 // start-up, reading a token pool, autocannon's own 10 s request timeout

/**
 * Runs one load plan in a fresh load-worker process and resolves with its summary. The worker is
 * killed if it has not answered within the plan's own bound plus a grace period.
 */
export function runLoad (plan) {
  const worker = track(fork(WORKER, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  const limitSeconds = (plan.amount === undefined ? plan.duration : plan.capSeconds) + GRACE_SECONDS
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      worker.kill('SIGKILL')
      reject(new Error(`load generator did not finish within ${limitSeconds} s`))
    }, limitSeconds * 1000)
    worker.once('message', message => {
      clearTimeout(timer)
      if (message.error !== undefined) reject(new Error(`load generator failed: ${message.error}`))
      else resolve(message.result)
    })
    worker.once('exit', code => {
      clearTimeout(timer)
      reject(new Error(`load generator exited with code ${code} before answering`))
    })
    worker.send(plan)
  })
}
