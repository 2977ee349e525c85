// The project root: the directory holding package.json, whether running from src/ or dist/.
import { join } from 'node:path'
import t from 'tap'
import { findProjectRoot } from '../src/project-root.js'

const ROOT = findProjectRoot()

t.test('the project root is found by walking up to package.json', async t => {
  t.equal(findProjectRoot(join(ROOT, 'src', 'issuer')), ROOT)
  t.throws(() => findProjectRoot('/'), { message: 'Cannot find the project root: no package.json in / or above' })
})
