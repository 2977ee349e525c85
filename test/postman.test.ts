// The Postman collection in postman/, run with newman's Node API against the service in local mode
// (as `npm start` runs it, on free ports), and held to the OpenAPI document the service serves: a
// request the document has no operation for, an operation without a request, or a status the
// document does not list for its operation fails here.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import newman, { type NewmanRunOptions, type NewmanRunSummary } from 'newman'
import { test } from 'tap'
import { DEV_AUDIENCE, DEV_CLIENT_SECRETS } from '../src/dev-credentials.js'
import { tokenEndpoint } from '../src/openapi/security.js'
import { findProjectRoot } from '../src/project-root.js'
import { startLocalService } from './helpers/local-service.js'

const POSTMAN_DIR = join(findProjectRoot(), 'postman')
const COLLECTION_FILE = 'quickstart.postman_collection.json'
const LOCAL_ENVIRONMENT_FILE = 'local.postman_environment.json'
const AUTH0_ENVIRONMENT_FILE = 'auth0.postman_environment.json'

interface Script { listen: 'prerequest' | 'test', script: { exec: string[] } }
interface PostmanRequest { method: string, url: { raw: string } }
interface Item { name: string, item?: Item[], request?: PostmanRequest, event?: Script[] }
interface Collection {
  info: { name: string, schema: string }
  item: Item[]
  event?: Script[]
  variable?: Array<{ key: string, value: string }>
}
interface Environment { name: string, values: Array<{ key: string, value: string, type: string, enabled: boolean }> }
interface OpenApi {
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>
  components: { securitySchemes: { oauth2: { flows: { clientCredentials: { tokenUrl: string } } } } }
}

function readJson<T> (file: string): T {
  return JSON.parse(readFileSync(join(POSTMAN_DIR, file), 'utf8')) as T
}

/** A request of the collection, with every script that runs for it (the collection's, its folders', its own). */
interface Leaf { name: string, folder: string, request: PostmanRequest, scripts: Script[], own: Script[] }

function leavesOf (collection: Collection): Leaf[] {
  const walk = (items: Item[], inherited: Script[], folder: string): Leaf[] => items.flatMap(item => item.item !== undefined
    ? walk(item.item, [...inherited, ...item.event ?? []], item.name)
    : [{ name: item.name, folder, request: item.request as PostmanRequest, scripts: [...inherited, ...item.event ?? []], own: item.event ?? [] }])
  return walk(collection.item, collection.event ?? [], '')
}

const sourceOf = (scripts: Script[]): string => scripts.map(({ script }) => script.exec.join('\n')).join('\n')
/**
 * The pm.test calls in these scripts' tests; each runs once per request (none sits in a loop or a
 * branch). Pre-request scripts are left out: theirs runs only when a token request fails.
 */
const testCount = (scripts: Script[]): number =>
  (sourceOf(scripts.filter(script => script.listen === 'test')).match(/\bpm\.test\(/g) ?? []).length
/** The statuses a request's own tests assert. */
const assertedStatuses = (leaf: Leaf): number[] =>
  [...sourceOf(leaf.own).matchAll(/pm\.response\.to\.have\.status\((\d{3})\)/g)].map(match => Number(match[1]))
/** Every variable the collection reads: `{{name}}` in requests and texts, pm.variables.get('name') in scripts. */
const variablesUsed = (collection: Collection): Set<string> => {
  const text = JSON.stringify(collection)
  return new Set([...text.matchAll(/\{\{(\w+)\}\}|pm\.variables\.get\('(\w+)'\)/g)].map(match => match[1] ?? match[2]))
}

const API_BASE = '{{api_base_url}}'
const TOKEN_URL = '{{token_url}}'
/** Operations the collection does not cover: probes, metrics and the documentation itself. */
const NOT_IN_COLLECTION = /^\/(health|metrics|docs)(\/|$)/

/**
 * What keeps the collection and the OpenAPI document from drifting apart, as a list of problems
 * (empty when they agree): every API operation of the document has a request, every API request
 * names an operation of the document (method and path), and every status a request asserts is a
 * response the document lists for that operation.
 */
function driftProblems (document: OpenApi, collection: Collection): string[] {
  const problems: string[] = []
  const operations = new Map<string, string[]>()
  for (const [path, byMethod] of Object.entries(document.paths)) {
    if (NOT_IN_COLLECTION.test(path)) continue
    for (const [method, operation] of Object.entries(byMethod)) operations.set(`${method.toUpperCase()} ${path}`, Object.keys(operation.responses))
  }
  const requested = new Set<string>()
  for (const leaf of leavesOf(collection)) {
    const { method, url: { raw } } = leaf.request
    if (raw === TOKEN_URL) continue
    if (!raw.startsWith(`${API_BASE}/`)) {
      problems.push(`"${leaf.name}": ${raw} is neither the API (${API_BASE}/...) nor ${TOKEN_URL}`)
      continue
    }
    const operation = `${method} ${raw.slice(API_BASE.length)}`
    requested.add(operation)
    const responses = operations.get(operation)
    if (responses === undefined) {
      problems.push(`"${leaf.name}": ${operation} is not an operation of the OpenAPI document`)
      continue
    }
    const statuses = assertedStatuses(leaf)
    if (statuses.length !== 1) problems.push(`"${leaf.name}": asserts ${statuses.length} statuses, not one`)
    for (const status of statuses) {
      if (!responses.includes(String(status))) problems.push(`"${leaf.name}": asserts ${status}, which the document does not list for ${operation} (${responses.join(', ')})`)
    }
  }
  for (const operation of operations.keys()) {
    if (!requested.has(operation)) problems.push(`${operation}: no request in the collection`)
  }
  return problems
}

/** A request newman sent: an item's own, or one its scripts sent with pm.sendRequest. */
interface Sent { item: string, method: string, url: string, status?: number, error?: string }
interface Run { summary: NewmanRunSummary, sent: Sent[], assertions: Map<string, number>, exceptions: string[] }

/**
 * newman.run, reporting nothing, with every request sent and every assertion run counted by item.
 * A script's pm.sendRequest is reported as a request of an item of its own, unnamed: the cursor
 * says which item's script sent it. An error thrown in a pm.sendRequest callback is an exception
 * event, which newman's summary does not count among its failures.
 */
async function runCollection (options: NewmanRunOptions): Promise<Run> {
  return await new Promise((resolve, reject) => {
    const sent: Sent[] = []
    const assertions = new Map<string, number>()
    const exceptions: string[] = []
    const names = new Map<string, string>()
    type Cursor = { cursor: { ref: string } }
    newman.run({ timeoutRequest: 10_000, ...options }, (error, summary) => { if (error) reject(error); else resolve({ summary, sent, assertions, exceptions }) })
      .on('beforeItem', (_error: unknown, { cursor, item }: Cursor & { item: { name: string } }) => { names.set(cursor.ref, item.name) })
      .on('request', (error: Error | null, { cursor, request, response }: Cursor & { request: { method: string, url: { toString(): string } }, response?: { code: number } }) => {
        sent.push({ item: names.get(cursor.ref) ?? '(unknown)', method: request.method, url: request.url.toString(), status: response?.code, error: error?.message })
      })
      .on('assertion', (_error: unknown, { item }: { item: { name: string } }) => {
        assertions.set(item.name, (assertions.get(item.name) ?? 0) + 1)
      })
      .on('exception', (_error: unknown, { error }: { error: { message: string } }) => { exceptions.push(error.message) })
  })
}

/** The sendRequest calls of a run's scripts: what an item sent before its own request, which comes last. */
function scriptRequests (run: Run, leaves: Leaf[]): Sent[] {
  return leaves.flatMap(leaf => run.sent.filter(sent => sent.item === leaf.name).slice(0, -1))
}

/** newman's failures (assertions, script errors, requests without a response) and the scripts' exceptions. */
function failuresOf ({ summary, exceptions }: Run): string[] {
  return [
    ...summary.run.failures.map(({ source, at, error }) => `${(source as { name?: string } | undefined)?.name ?? '(collection)'} at ${at}: ${error.message}`),
    ...exceptions.map(message => `exception: ${message}`)
  ]
}

/** A copy of the collection whose collection variables start with these values. */
function withVariables (collection: Collection, values: Record<string, string>): Collection {
  const copy = structuredClone(collection)
  copy.variable = (copy.variable ?? []).map(variable => ({ ...variable, value: values[variable.key] ?? variable.value }))
  return copy
}

test('the collection and its environments', async t => {
  const collection = readJson<Collection>(COLLECTION_FILE)
  const local = readJson<Environment>(LOCAL_ENVIRONMENT_FILE)
  const auth0 = readJson<Environment>(AUTH0_ENVIRONMENT_FILE)
  t.equal(collection.info.schema, 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json', 'Postman collection format v2.1')

  const leaves = leavesOf(collection)
  t.same(leaves.map(leaf => leaf.name), [...new Set(leaves.map(leaf => leaf.name))], 'request names are unique: the run is read by name')
  for (const leaf of leaves) {
    const source = sourceOf(leaf.own.filter(script => script.listen === 'test'))
    t.equal(assertedStatuses(leaf).length, 1, `"${leaf.name}" asserts its status`)
    t.match(source, /pm\.test\('WWW-Authenticate: /, `"${leaf.name}" asserts its WWW-Authenticate header`)
    t.match(source, /pm\.test\('body: [^]*pm\.response\.json\(\)/, `"${leaf.name}" asserts its body`)
  }

  const collectionVariables = new Set((collection.variable ?? []).map(variable => variable.key))
  const needed = [...variablesUsed(collection)].filter(name => !collectionVariables.has(name)).sort()
  t.same(local.values.map(value => value.key).sort(), needed, 'the local environment sets exactly the variables the collection reads')
  t.same(auth0.values.map(value => value.key), local.values.map(value => value.key), 'the Auth0 template has the same variables')
  t.same(auth0.values.filter(value => value.value !== ''), [], 'the Auth0 template holds no values')
  for (const environment of [local, auth0]) {
    t.same(environment.values.filter(value => /secret|password/.test(value.key)).map(value => value.type), ['secret', 'secret', 'secret', 'secret'],
      `${environment.name}: secrets are typed secret`)
    t.ok(environment.values.every(value => value.enabled), `${environment.name}: every variable is enabled`)
  }
  const localValue = (key: string) => local.values.find(value => value.key === key)?.value
  t.equal(localValue('api_base_url'), 'http://localhost:3010', 'npm start\'s API')
  t.equal(localValue('token_url'), tokenEndpoint('http://localhost:3011/'), 'npm start\'s issuer, where the OpenAPI document says its token endpoint is')
  t.equal(localValue('audience'), DEV_AUDIENCE)
  for (const [id, secret] of [['client_id', 'client_secret'], ['unscoped_client_id', 'unscoped_client_secret'], ['app_client_id', 'app_client_secret']]) {
    t.equal(localValue(secret), DEV_CLIENT_SECRETS.get(localValue(id) as string), `${secret} is ${localValue(id)}'s development secret`)
  }
})

test('newman runs the collection against the service in local mode', async t => {
  const { apiPort, issuerPort } = await startLocalService(t)
  const apiBaseUrl = `http://localhost:${apiPort}`
  const tokenUrl = `http://localhost:${issuerPort}/oauth/token`
  const collection = readJson<Collection>(COLLECTION_FILE)
  const environment = readJson<Environment>(LOCAL_ENVIRONMENT_FILE)
  // The shipped environment, with the ports this test's service listens on.
  const envVar = [{ key: 'api_base_url', value: apiBaseUrl }, { key: 'token_url', value: tokenUrl }]
  const leaves = leavesOf(collection)
  const resolve = (raw: string) => raw.replace(API_BASE, apiBaseUrl).replace(TOKEN_URL, tokenUrl)

  await t.test('every request gets its response and passes every assertion', async t => {
    const run = await runCollection({ collection: structuredClone(collection) as NewmanRunOptions['collection'], environment: structuredClone(environment), envVar })
    t.same(failuresOf(run), [], 'no failure: no assertion failed, no script threw, no request went unanswered')
    t.notOk(run.summary.error, 'the run completed')

    const expected = new Map(leaves.map(leaf => [leaf.name, testCount(leaf.scripts)]))
    const total = [...expected.values()].reduce((sum, count) => sum + count, 0)
    t.ok(total >= 3 * leaves.length, `at least three assertions a request (${total} for ${leaves.length})`)
    t.equal(run.summary.run.stats.assertions.total, total, 'every pm.test in the collection ran')
    t.equal(run.summary.run.stats.assertions.failed, 0)
    t.same(Object.fromEntries(run.assertions), Object.fromEntries(expected), 'each request ran all of its tests')

    for (const leaf of leaves) {
      const own = run.sent.filter(sent => sent.item === leaf.name).at(-1)
      t.same(own, { item: leaf.name, method: leaf.request.method, url: resolve(leaf.request.url.raw), status: assertedStatuses(leaf)[0], error: undefined },
        `"${leaf.name}" was sent and answered`)
    }
    // The collection's token once for the whole run, the folder's unscoped token once for its two requests.
    const firstUnscoped = leaves.find(leaf => leaf.folder === 'Without the scope') as Leaf
    t.same(scriptRequests(run, leaves), [
      { item: leaves[0].name, method: 'POST', url: tokenUrl, status: 200, error: undefined },
      { item: firstUnscoped.name, method: 'POST', url: tokenUrl, status: 200, error: undefined }
    ], 'each token fetched once, then reused')
    t.equal(run.summary.run.stats.requests.total, leaves.length + 2)
  })

  await t.test('the cached token: reused while fresh, fetched again shortly before it expires or for another client', async t => {
    const response = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'm2m-reader', client_secret: DEV_CLIENT_SECRETS.get('m2m-reader'), audience: DEV_AUDIENCE, grant_type: 'client_credentials' })
    })
    t.equal(response.status, 200)
    const { access_token: token } = await response.json() as { access_token: string }
    const issuedFor = `${tokenUrl} m2m-reader ${DEV_AUDIENCE}`
    const apiLeaves = leaves.filter(leaf => leaf.folder === 'The API')
    const runApiFolder = async (variables: Record<string, string>) => {
      const run = await runCollection({
        collection: withVariables(collection, variables) as NewmanRunOptions['collection'], environment: structuredClone(environment), envVar, folder: 'The API'
      })
      t.same(failuresOf(run), [])
      return scriptRequests(run, apiLeaves).map(({ item, url, status }) => ({ item, url, status }))
    }
    const fetched = [{ item: apiLeaves[0].name, url: tokenUrl, status: 200 }]

    t.same(await runApiFolder({ access_token: token, access_token_for: issuedFor, access_token_expires_at: String(Date.now() + 10 * 60_000) }), [],
      'a token ten minutes from expiry is used, nothing fetched')
    t.same(await runApiFolder({ access_token: token, access_token_for: issuedFor, access_token_expires_at: String(Date.now() + 30_000) }), fetched,
      'a token thirty seconds from expiry is replaced first')
    t.same(await runApiFolder({ access_token: token, access_token_for: `${tokenUrl} m2m-basic ${DEV_AUDIENCE}`, access_token_expires_at: String(Date.now() + 10 * 60_000) }), fetched,
      'a token issued for another client is not used')
    t.same(await runApiFolder({}), fetched, 'no token yet: one is fetched')
  })

  await t.test('a token request that fails fails the run with the issuer\'s answer', async t => {
    const run = await runCollection({
      collection: structuredClone(collection) as NewmanRunOptions['collection'],
      environment: structuredClone(environment),
      envVar: [...envVar, { key: 'client_secret', value: 'not-the-secret' }],
      folder: 'The API'
    })
    const failures = failuresOf(run)
    t.match(failures[0], `Public endpoint at assertion:0 in test-script: 401 {"error":"invalid_client"`, 'the reason comes first')
    t.equal(failures.filter(failure => failure.includes('invalid_client')).length, 4, 'with no token to reuse, each request asks again')
    t.ok(failures.some(failure => failure.includes('expected response to have status code 200 but got 401')), 'and the requests needing it fail')
  })

  await t.test('the collection\'s API requests match the OpenAPI document the service serves', async t => {
    const response = await fetch(`${apiBaseUrl}/docs/json`)
    t.equal(response.status, 200)
    const document = await response.json() as OpenApi
    t.same(driftProblems(document, collection), [], 'no drift')
    t.equal(document.components.securitySchemes.oauth2.flows.clientCredentials.tokenUrl, tokenUrl, 'the token URL the run used is the document\'s')

    // And the check sees drift: an operation gone from the collection, a request the document does
    // not have, a status it does not list, a request to somewhere else.
    const drifted = structuredClone(collection)
    const api = drifted.item.find(folder => folder.name === 'The API') as Item & { item: Item[] }
    const scoped = drifted.item.find(folder => folder.name === 'Without the scope') as Item & { item: Item[] }
    api.item = api.item.filter(item => item.name !== 'Public endpoint')
    api.item.push({ name: 'Messages', request: { method: 'POST', url: { raw: `${API_BASE}/api/messages` } }, event: [] })
    const forbidden = scoped.item[1].event?.find(script => script.listen === 'test') as Script
    forbidden.script.exec = forbidden.script.exec.map(line => line.replace('to.have.status(403)', 'to.have.status(418)'))
    scoped.item.push({ name: 'Elsewhere', request: { method: 'GET', url: { raw: 'http://localhost:3010/api/public' } }, event: [] })
    t.same(driftProblems(document, drifted), [
      '"Messages": POST /api/messages is not an operation of the OpenAPI document',
      '"Scoped endpoint with a token lacking read:messages": asserts 418, which the document does not list for GET /api/private-scoped (200, 400, 401, 403, 503)',
      '"Elsewhere": http://localhost:3010/api/public is neither the API ({{api_base_url}}/...) nor {{token_url}}',
      'GET /api/public: no request in the collection'
    ])
    scoped.item[0].event = []
    t.ok(driftProblems(document, drifted).includes('"Private endpoint with a token lacking read:messages": asserts 0 statuses, not one'), 'a request that asserts no status')
  })
})
