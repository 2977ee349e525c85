/**
 * Whether NODE_ENV says production, as people type it: `Production` and ` production` too. The
 * local development issuer refuses to run then, so a typo must not let it start.
 */
export function isProduction (nodeEnv: string | undefined): boolean {
  return nodeEnv?.trim().toLowerCase() === 'production'
}
