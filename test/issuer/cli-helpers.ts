// Runs the CLI files as `npm run` would (through tap's TypeScript loader, so coverage counts),
// and captures the in-process commands' output.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { CliIo } from '../../src/issuer/commands.js'

export const cliScript = (name: string): string => fileURLToPath(new URL(`../../src/issuer/${name}`, import.meta.url))

export interface CliRun { code: number | null, stdout: string, stderr: string }

/** Runs a CLI file to completion. */
export async function runCli (name: string, args: string[], env: NodeJS.ProcessEnv = {}, stdin = ''): Promise<CliRun> {
  const child = spawn(process.execPath, [...process.execArgv, cliScript(name), ...args], { env: { ...process.env, ...env } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  child.stdin.end(stdin)
  const [code] = await once(child, 'close') as [number | null]
  return { code, stdout, stderr }
}

export function memoryIo (): CliIo & { stdout: string[], stderr: string[] } {
  const stdout: string[] = []
  const stderr: string[] = []
  return { stdout, stderr, out: line => { stdout.push(line) }, err: line => { stderr.push(line) } }
}
