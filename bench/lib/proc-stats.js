import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'

/**
 * What the benchmark reads about a target from Linux's /proc without touching the target:
 * CPU time (all threads, user + system) and peak resident memory. Elsewhere these read as null.
 */

const ticksPerSecond = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim()) || 100
  } catch {
    return 100
  }
})()

/** CPU time the process has used so far, in microseconds (resolution: one clock tick, 10 ms). */
export function cpuMicros (pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12]) // utime, stime: fields 14 and 15 of proc(5)
    return ticks * 1e6 / ticksPerSecond
  } catch {
    return null
  }
}

function statusField (pid, name) {
  try {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match === null ? null : Number(match[1]) * 1024
  } catch {
    return null
  }
}

/**
 * The process and all its descendants (a cluster's primary and workers), from each thread's
 * `children` file (Linux >= 3.5). Where that cannot be read, just the process.
 */
export function processTree (pid) {
  const pids = [pid]
  for (let i = 0; i < pids.length; i++) {
    try {
      for (const task of readdirSync(`/proc/${pids[i]}/task`)) {
        const children = readFileSync(`/proc/${pids[i]}/task/${task}/children`, 'utf8').trim()
        if (children !== '') pids.push(...children.split(/\s+/).map(Number))
      }
    } catch {
      // The process exited, or this kernel has no children files: measure what was found.
    }
  }
  return pids
}

/** The highest resident set size since the process started or since the last resetPeakRss. */
export function peakRssBytes (pid) {
  return statusField(pid, 'VmHWM')
}

/**
 * Resets the process's peak RSS to its current RSS (writing 5 to clear_refs, Linux >= 4.0), so a
 * peak read after a run belongs to that run. Returns false where the kernel does not allow it.
 */
export function resetPeakRss (pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

/**
 * The whole machine's CPU time so far, in microseconds: `busy` (user, nice, system, irq,
 * softirq, summed over cores) and `steal` (time the hypervisor gave to someone else).
 * Busy time beyond what the target and the load generator used belongs to other processes.
 */
export function machineCpuMicros () {
  try {
    const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8')
      .split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number)
    const micros = ticks => ticks * 1e6 / ticksPerSecond
    return { busy: micros(user + nice + system + irq + softirq), steal: micros(steal) }
  } catch {
    return null
  }
}
