import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { startServer } from '../../src/server.js'
import { freePort } from './ports.js'

export interface LocalService {
  server: FastifyInstance
  apiPort: number
  issuerPort: number
  /** http://localhost:<apiPort>/api */
  api: string
  /** The local issuer, as its tokens name it: http://localhost:<issuerPort>/ */
  issuer: string
  keyDir: string
}

/** `npm start` with no issuer configured (the API and the embedded local issuer) on free ports, closed when the test ends. */
export async function startLocalService (t: Test, env: Record<string, string> = {}): Promise<LocalService> {
  const [apiPort, issuerPort] = [await freePort(), await freePort()]
  const keyDir = join(t.testdir({}), 'keys')
  const server = await startServer({
    env: { PORT: String(apiPort), LOCAL_ISSUER_PORT: String(issuerPort), LOCAL_ISSUER_KEY_DIR: keyDir, LOG_LEVEL: 'silent', ...env }
  })
  t.teardown(() => server.close())
  return { server, apiPort, issuerPort, api: `http://localhost:${apiPort}/api`, issuer: `http://localhost:${issuerPort}/`, keyDir }
}
