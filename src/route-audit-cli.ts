// `npm run routes`: every route with its method, URL and the auth policy enforced on it.
import { auditRoutes, describeAuditFailure, formatRoutes } from './route-audit.js'

// The one setting that adds a route (/metrics); everything else about the routes is in the code.
const { METRICS_ENABLED } = process.env
try {
  process.stdout.write(formatRoutes(await auditRoutes(METRICS_ENABLED === undefined ? {} : { METRICS_ENABLED })))
} catch (error) {
  process.stderr.write(`${describeAuditFailure(error)}\n`)
  process.exitCode = 1
}
