import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { test } from 'tap'
import { envSchema } from '../src/config.js'
import { auditRoutes, describeAuditFailure, formatRoutes } from '../src/route-audit.js'

const CLI = fileURLToPath(new URL('../src/route-audit-cli.ts', import.meta.url))

/** The shipped routes and what each requires. A change here is a change to what the API exposes. */
const SHIPPED = `METHOD    URL                                  POLICY
GET       /api/private                         token
HEAD      /api/private                         token
GET       /api/private-scoped                  scopes: read:messages (all)
HEAD      /api/private-scoped                  scopes: read:messages (all)
GET       /api/public                          public
HEAD      /api/public                          public
GET       /docs                                public
HEAD      /docs                                public
HEAD      /docs/                               public
GET       /docs/json                           public
HEAD      /docs/json                           public
HEAD,GET  /docs/static/*                       public
GET       /docs/static/index.html              public
HEAD      /docs/static/index.html              public
GET       /docs/static/swagger-initializer.js  public
HEAD      /docs/static/swagger-initializer.js  public
GET       /docs/yaml                           public
HEAD      /docs/yaml                           public
GET       /health/live                         public
HEAD      /health/live                         public
GET       /health/ready                        public
HEAD      /health/ready                        public
`

/** Runs the CLI as `npm run routes` would (under tap's TypeScript loader), with only these variables. */
function runCli (env: Record<string, string>) {
  const inherited = { ...process.env }
  for (const name of Object.keys(envSchema.properties)) delete inherited[name]
  const child = spawn(process.execPath, [...process.execArgv, CLI], { env: { ...inherited, ...env } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', chunk => { stdout += chunk })
  child.stderr.on('data', chunk => { stderr += chunk })
  return new Promise<{ code: number | null, stdout: string, stderr: string }>(resolve => {
    child.on('close', code => resolve({ code, stdout, stderr }))
  })
}

test('the shipped routes and their policies', async t => {
  t.equal(formatRoutes(await auditRoutes()), SHIPPED)
})

test('with metrics on, /metrics is listed, public', async t => {
  const listing = formatRoutes(await auditRoutes({ METRICS_ENABLED: 'true' }))
  t.match(listing, /^GET +\/metrics +public$/m)
})

test('any-of scopes read as such', async t => {
  t.equal(formatRoutes([{ method: 'POST', url: '/m', policy: { kind: 'scopes', requirement: { scopes: ['a', 'b'], mode: 'any' } } }]),
    'METHOD  URL  POLICY\nPOST    /m   scopes: a b (any)\n')
})

test('npm run routes prints the listing', async t => {
  const result = await runCli({})
  t.equal(result.code, 0)
  t.equal(result.stdout, SHIPPED)
  const metrics = await runCli({ METRICS_ENABLED: 'true' })
  t.match(metrics.stdout, /^GET +\/metrics +public$/m)
})

test('npm run routes: a bad setting is one line and exit code 1', async t => {
  const result = await runCli({ METRICS_ENABLED: 'maybe' })
  t.equal(result.code, 1)
  t.equal(result.stderr, 'Configuration error: METRICS_ENABLED must be boolean\n')
})

test('an unexpected failure is reported with its message', async t => {
  t.equal(describeAuditFailure(new Error('boom')), 'Route audit failed: boom')
})
