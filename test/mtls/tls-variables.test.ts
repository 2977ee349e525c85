import { join } from 'node:path'
import { test, type Test } from 'tap'
import { tlsVariables } from '../../src/mtls/tls-variables.js'

/** Sets process.env entries for one test, restoring them after. */
function setProcessEnv (t: Test, values: Record<string, string | undefined>): void {
  const saved = Object.fromEntries(Object.keys(values).map(name => [name, process.env[name]]))
  const assign = (entries: Record<string, string | undefined>): void => {
    for (const [name, value] of Object.entries(entries)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  }
  assign(values)
  t.teardown(() => { assign(saved) })
}

test('an env option is the only source, as for the rest of the configuration', async t => {
  setProcessEnv(t, { TLS_CERT: '/from/process.env', TLS_KEY: undefined, TLS_CLIENT_CA: undefined })
  t.same(tlsVariables({ TLS_KEY: ' key.pem ', TLS_CLIENT_CA: '  ', OTHER: 'x' }), { TLS_KEY: 'key.pem' },
    'trimmed; blank is unset; process.env unread')
  t.same(tlsVariables({}), {})
})

test('without one: .env in the working directory, process.env winning, as @fastify/env reads them', async t => {
  const dir = t.testdir({ '.env': 'TLS_CERT=cert-from-dotenv.pem\nTLS_KEY=key-from-dotenv.pem\n' })
  setProcessEnv(t, { TLS_CERT: undefined, TLS_KEY: 'key-from-process.pem', TLS_CLIENT_CA: '' })
  t.same(tlsVariables(undefined, join(dir, '.env')), { TLS_CERT: 'cert-from-dotenv.pem', TLS_KEY: 'key-from-process.pem' })
  // The default path is the working directory's .env.
  const cwd = process.cwd()
  process.chdir(dir)
  t.teardown(() => { process.chdir(cwd) })
  t.same(tlsVariables(), { TLS_CERT: 'cert-from-dotenv.pem', TLS_KEY: 'key-from-process.pem' })
})

test('a missing .env is no error; an unreadable one is', async t => {
  const dir = t.testdir({ 'a-directory': {} })
  setProcessEnv(t, { TLS_CERT: 'cert.pem', TLS_KEY: undefined, TLS_CLIENT_CA: undefined })
  t.same(tlsVariables(undefined, join(dir, 'missing.env')), { TLS_CERT: 'cert.pem' })
  t.throws(() => tlsVariables(undefined, join(dir, 'a-directory')), { code: 'EISDIR' })
})
