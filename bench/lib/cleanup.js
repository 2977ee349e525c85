/**
 * Every child process the benchmark starts is registered here and killed when the driver ends,
 * however it ends: normal exit, an error, or Ctrl-C. (A SIGKILLed driver runs none of this; the
 * children notice through watch-parent.js instead.)
 */
import { constants } from 'node:os'

const children = new Set()

export function track (child) {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

function killAll () {
  for (const child of children) child.kill('SIGKILL')
  children.clear()
}

export function installCleanup () {
  process.once('exit', killAll)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping every child process\n`)
      killAll()
      process.exit(128 + constants.signals[signal])
    })
  }
  process.on('uncaughtException', error => {
    process.stderr.write(`bench: ${error.stack ?? error}\n`)
    killAll()
    process.exit(1)
  })
  process.on('unhandledRejection', error => {
    process.stderr.write(`bench: ${error?.stack ?? error}\n`)
    killAll()
    process.exit(1)
  })
}
