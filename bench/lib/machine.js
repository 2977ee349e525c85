import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, release, totalmem, type } from 'node:os'

const bench = new URL('../', import.meta.url)
const repo = new URL('../../', import.meta.url)

function osName () {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? `${type()} ${release()}`
  } catch {
    return `${type()} ${release()}`
  }
}

/** What a reader needs to compare this run with another: hardware, runtime, and what was measured. */
export function describeMachine () {
  const processors = cpus()
  return {
    cpu: processors[0]?.model ?? 'unknown',
    cores: processors.length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    os: `${osName()}, kernel ${release()}`
  }
}

/** The service's commit, marked when the working tree had changes (they are what ran). */
export function serviceRevision () {
  try {
    const git = args => execFileSync('git', args, { cwd: repo, encoding: 'utf8', timeout: 5000 }).trim()
    const dirty = git(['status', '--porcelain', '--', 'src', 'plugins', 'routes']) !== ''
    return `${git(['rev-parse', '--short', 'HEAD'])}${dirty ? ' with uncommitted changes in src/, plugins/ or routes/' : ''}`
  } catch {
    return 'unknown'
  }
}

/** Installed versions of the packages each target leans on. */
export function packageVersions () {
  const version = (base, name) => {
    try {
      return JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, base), 'utf8')).version
    } catch {
      return 'not installed'
    }
  }
  return {
    ours: ['fastify', '@fastify/jwt', 'fast-jwt', 'pino'].map(name => `${name} ${version(repo, name)}`),
    peers: ['fastify', 'express', 'express-oauth2-jwt-bearer', 'fastify-jwt-jwks', '@fastify/jwt', 'get-jwks', 'fast-jwt', 'jose']
      .map(name => `${name} ${version(bench, name)}`),
    autocannon: version(repo, 'autocannon')
  }
}
