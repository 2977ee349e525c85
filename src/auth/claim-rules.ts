import type { AccessTokenClaims } from './claims.js'

/**
 * What a route may require of one claim, beyond scopes, in `config.auth.claims`:
 * - a string, number or boolean: the claim equals it;
 * - `{ includes: value | values }`: the claim, an array or a space-separated string, holds every one of them;
 * - a function `(value, claims) => boolean`: a check of your own (a throw counts as false).
 */
export type ClaimRule =
  | string | number | boolean
  | { includes: string | string[] }
  | ((value: unknown, claims: Readonly<AccessTokenClaims>) => boolean)

/** One claim rule, ready to run, with the words `npm run routes` and OpenAPI show for it. */
export interface ClaimRequirement {
  claim: string
  description: string
  test: (claims: Readonly<AccessTokenClaims>) => boolean
}

/** A claim name a WWW-Authenticate description can quote: printable ASCII, no space, `"` or `\`. */
const CLAIM_NAME = /^[\x21\x23-\x5B\x5D-\x7E]+$/
/** Scopes and permissions have their own declaration, and their own answer (403 insufficient_scope). */
const SCOPE_CLAIMS = ['scope', 'scp', 'permissions']

/** Reads a route's `claims` declaration; anything unexpected is a TypeError that fails start-up. */
export function claimRequirements (declared: unknown): ClaimRequirement[] {
  if (typeof declared !== 'object' || declared === null || Array.isArray(declared)) {
    throw new TypeError('claims must be an object of claim name to rule')
  }
  const entries = Object.entries(declared)
  if (entries.length === 0) throw new TypeError('claims must name at least one claim')
  return entries.map(([claim, rule]) => {
    if (!CLAIM_NAME.test(claim)) throw new TypeError(`invalid claim name ${JSON.stringify(claim)}`)
    if (SCOPE_CLAIMS.includes(claim)) throw new TypeError(`claims.${claim}: declare scopes and permissions with scopes (a missing one is 403 insufficient_scope)`)
    return { claim, ...ruleFor(claim, rule) }
  })
}

function ruleFor (claim: string, rule: unknown): Omit<ClaimRequirement, 'claim'> {
  if (typeof rule === 'string' || typeof rule === 'number' || typeof rule === 'boolean') {
    return { description: `${claim} = ${JSON.stringify(rule)}`, test: claims => claims[claim] === rule }
  }
  if (typeof rule === 'function') {
    const check = rule as (value: unknown, claims: Readonly<AccessTokenClaims>) => unknown
    return { description: `${claim} (custom check)`, test: claims => passes(() => check(claims[claim], claims)) }
  }
  const includes = (rule as { includes?: unknown } | null)?.includes
  const wanted = typeof includes === 'string' ? [includes] : includes
  const shape = typeof rule === 'object' && rule !== null && !Array.isArray(rule) && Object.keys(rule).length === 1
  if (!shape || !Array.isArray(wanted) || wanted.length === 0 || !wanted.every(value => typeof value === 'string')) {
    throw new TypeError(`claims.${claim} must be a string, number or boolean (equals), { includes: value or values }, or a function`)
  }
  return {
    description: `${claim} includes ${wanted.join(' ')}`,
    test: claims => {
      const value = claims[claim]
      const held = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : []
      return wanted.every(item => held.includes(item))
    }
  }
}

/** A custom check passes only on `true`: a throw, or anything else it returns, refuses. */
function passes (check: () => unknown): boolean {
  try {
    return check() === true
  } catch {
    return false
  }
}
