import { existsSync } from 'node:fs'
import { dirname, join, parse } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The directory holding package.json, found by walking up from `startDir`.
 * Walking up (instead of a fixed relative path) finds the same root from `src/*.ts`
 * under tap and from the compiled `dist/src/*.js`.
 */
export function findProjectRoot (startDir: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = startDir
  while (!existsSync(join(dir, 'package.json'))) {
    if (dir === parse(dir).root) {
      throw new Error(`Cannot find the project root: no package.json in ${startDir} or above`)
    }
    dir = dirname(dir)
  }
  return dir
}
