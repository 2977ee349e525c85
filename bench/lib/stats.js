/** The median of the numbers given, ignoring null; null when there are none. */
export function median (values) {
  const sorted = values.filter(value => typeof value === 'number' && Number.isFinite(value)).sort((a, b) => a - b)
  if (sorted.length === 0) return null
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

export function max (values) {
  const numbers = values.filter(value => typeof value === 'number' && Number.isFinite(value))
  return numbers.length === 0 ? null : Math.max(...numbers)
}
