import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const NOT_WORK = new Set(['(idle)', '(program)', '(root)'])

/** Where a frame's code lives: a package, a file of the service, Node itself, or V8. */
function area (url, functionName) {
  if (url === '') return functionName === '(garbage collector)' ? 'V8: garbage collector' : 'V8/native'
  if (url.startsWith('node:')) return 'node internals'
  const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (inPackage !== null) return inPackage[1]
  const path = url.startsWith('file://') ? fileURLToPath(url) : url
  return path.startsWith(REPO) ? path.slice(REPO.length) : path
}

function frameName ({ functionName, url, lineNumber }) {
  const where = url === '' ? '' : ` ${area(url, functionName)}:${lineNumber + 1}`
  return `${functionName || '(anonymous)'}${where}`
}

/**
 * Summarises a V8 .cpuprofile: self and total time per function, and self time per area.
 * Idle and "(program)" samples are left out, so percentages are shares of the time the
 * process actually spent running JavaScript, GC or native code.
 */
export function summariseProfile (profile) {
  const byId = new Map(profile.nodes.map(node => [node.id, node]))
  const selfSamples = new Map()
  for (const id of profile.samples) selfSamples.set(id, (selfSamples.get(id) ?? 0) + 1)

  const self = new Map()
  const total = new Map()
  const areas = new Map()
  let work = 0
  const add = (map, key, count) => map.set(key, (map.get(key) ?? 0) + count)

  // Depth-first from the root; a function's total counts each sample once even when it recurses.
  const onStack = new Map()
  function visit (node) {
    const name = frameName(node.callFrame)
    const counted = NOT_WORK.has(node.callFrame.functionName) ? 0 : (selfSamples.get(node.id) ?? 0)
    work += counted
    add(self, name, counted)
    add(areas, area(node.callFrame.url, node.callFrame.functionName), counted)
    onStack.set(name, (onStack.get(name) ?? 0) + 1)
    let subtree = counted
    for (const child of node.children ?? []) subtree += visit(byId.get(child))
    onStack.set(name, onStack.get(name) - 1)
    if (onStack.get(name) === 0) add(total, name, subtree)
    return subtree
  }
  visit(profile.nodes[0])

  const ranked = map => [...map].filter(([, count]) => count > 0).sort((a, b) => b[1] - a[1])
  const share = count => work === 0 ? 0 : count / work
  return {
    samples: work,
    self: ranked(self).map(([name, count]) => ({ name, share: share(count), totalShare: share(total.get(name)) })),
    total: ranked(total).map(([name, count]) => ({ name, share: share(count) })),
    areas: ranked(areas).map(([name, count]) => ({ name, share: share(count) }))
  }
}
