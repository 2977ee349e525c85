import { readFileSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net'
import { gzipSync } from 'node:zlib'
import { test } from 'tap'
import { fetchJson, IssuerFetchError } from '../../src/auth/fetch-json.js'

const MAX_BYTES = 1024
const TIMEOUT_MS = 200
const SECRET = 'internal-detail-that-must-not-leak'

/** A real server on loopback with one path per way an issuer can answer. */
async function startIssuer () {
  const seen: Array<{ url: string, headers: IncomingHttpHeaders }> = []
  const server = createServer((request, response) => {
    seen.push({ url: request.url ?? '', headers: request.headers })
    const json = { 'content-type': 'application/json' }
    switch (request.url) {
      case '/ok':
        return void response.writeHead(200, json).end('{"keys":[{"kid":"é"}]}')
      case '/identity':
        return void response.writeHead(200, { ...json, 'content-encoding': 'identity' }).end('{"keys":[]}')
      case '/exact':
        // Exactly the cap, declared: allowed.
        return void response.writeHead(200, { ...json, 'content-length': MAX_BYTES }).end(JSON.stringify({ pad: 'x'.repeat(MAX_BYTES - 10) }))
      case '/hang':
        return
      case '/slow-body':
        response.writeHead(200, json)
        response.write('{"keys":')
        return
      case '/cut':
        response.writeHead(200, json)
        response.write('{"keys":')
        setTimeout(() => response.socket?.destroy(), 20)
        return
      case '/redirect':
        return void response.writeHead(302, { location: '/ok' }).end()
      case '/moved':
        return void response.writeHead(301, { location: '/ok' }).end()
      case '/server-error':
        return void response.writeHead(500, json).end(`{"error":"${SECRET}"}`)
      case '/no-content':
        return void response.writeHead(204).end()
      case '/big-declared':
        // Declares more than the cap and sends a little: only the declaration can refuse it in time.
        response.writeHead(200, { ...json, 'content-length': MAX_BYTES + 1 })
        response.write('{"pad":"')
        return
      case '/big-chunked': {
        // No content-length: the cap must hold while reading.
        response.writeHead(200, json)
        const chunk = 'x'.repeat(256)
        for (let index = 0; index < 64; index++) response.write(chunk)
        return void response.end()
      }
      case '/gzip-bomb': {
        // Small on the wire, large once decompressed: never asked for, so never decompressed.
        const body = gzipSync(JSON.stringify({ pad: ' '.repeat(1024 * 1024) }))
        return void response.writeHead(200, { ...json, 'content-encoding': 'gzip', 'content-length': body.length }).end(body)
      }
      case '/garbage':
        return void response.writeHead(200, json).end(`<html>${SECRET}`)
      default:
        return void response.writeHead(404).end()
    }
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const close = async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  }
  return { base, seen, close }
}

async function listen (server: Server): Promise<number> {
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

/** The IssuerFetchError a fetch ends with, and how long it took to get there. */
async function failure (url: string, limits: { timeoutMs?: number, maxBytes?: number, signal?: AbortSignal } = {}) {
  const started = Date.now()
  try {
    await fetchJson(url, { timeoutMs: TIMEOUT_MS, maxBytes: MAX_BYTES, ...limits })
  } catch (error) {
    if (!(error instanceof IssuerFetchError)) throw error
    return { error, elapsed: Date.now() - started }
  }
  throw new Error(`expected ${url} to fail`)
}

test('fetchJson', async t => {
  const issuer = await startIssuer()
  t.teardown(issuer.close)
  const limits = { timeoutMs: TIMEOUT_MS, maxBytes: MAX_BYTES }

  await t.test('parses a JSON answer and asks for JSON', async t => {
    t.same(await fetchJson(`${issuer.base}/ok`, limits), { keys: [{ kid: 'é' }] })
    t.equal(issuer.seen.at(-1)?.headers.accept, 'application/json')
    t.equal(issuer.seen.at(-1)?.headers['accept-encoding'], 'identity', 'no compression asked for')
    t.same(await fetchJson(`${issuer.base}/identity`, limits), { keys: [] }, 'the identity coding is no coding')
    t.same(await fetchJson(`${issuer.base}/exact`, limits), { pad: 'x'.repeat(MAX_BYTES - 10) }, 'a body of exactly the cap is fine')
  })

  await t.test('a server that never answers fails after the timeout', async t => {
    const { error, elapsed } = await failure(`${issuer.base}/hang`)
    t.equal(error.name, 'IssuerFetchError')
    t.equal(error.url, `${issuer.base}/hang`)
    t.equal(error.message, `${issuer.base}/hang: no response within ${TIMEOUT_MS} ms`)
    t.equal(error.status, undefined)
    t.ok(elapsed < 5000, `bounded (${elapsed} ms)`)
  })

  await t.test('a body that never finishes fails after the same timeout', async t => {
    const { error, elapsed } = await failure(`${issuer.base}/slow-body`)
    t.equal(error.message, `${issuer.base}/slow-body: no response within ${TIMEOUT_MS} ms`)
    t.ok(elapsed < 5000, `bounded (${elapsed} ms)`)
  })

  await t.test('a body cut off by the server', async t => {
    const { error } = await failure(`${issuer.base}/cut`, { timeoutMs: 5000 })
    t.equal(error.message, `${issuer.base}/cut: response cut off (ECONNRESET)`)
  })

  await t.test('redirects are refused, never followed', async t => {
    const before = issuer.seen.length
    const found = await failure(`${issuer.base}/redirect`)
    t.equal(found.error.message, `${issuer.base}/redirect: answered a redirect (302), which is not followed`)
    t.equal(found.error.status, 302)
    const moved = await failure(`${issuer.base}/moved`)
    t.equal(moved.error.status, 301)
    t.same(issuer.seen.slice(before).map(request => request.url), ['/redirect', '/moved'], 'the Location was never requested')
  })

  await t.test('any status but 200 is refused, without the body in the error', async t => {
    const serverError = await failure(`${issuer.base}/server-error`)
    t.equal(serverError.error.message, `${issuer.base}/server-error: answered HTTP 500`)
    t.equal(serverError.error.status, 500)
    const missing = await failure(`${issuer.base}/missing`)
    t.equal(missing.error.message, `${issuer.base}/missing: answered HTTP 404`)
    t.equal(missing.error.status, 404)
    const noContent = await failure(`${issuer.base}/no-content`)
    t.equal(noContent.error.message, `${issuer.base}/no-content: answered HTTP 204`)
  })

  await t.test('answers larger than the cap are refused', async t => {
    const declared = await failure(`${issuer.base}/big-declared`)
    t.equal(declared.error.message, `${issuer.base}/big-declared: response larger than ${MAX_BYTES} bytes`, 'by Content-Length, before reading')
    const chunked = await failure(`${issuer.base}/big-chunked`)
    t.equal(chunked.error.message, `${issuer.base}/big-chunked: response larger than ${MAX_BYTES} bytes`, 'while reading')
  })

  await t.test('a compressed answer is refused: nothing is decompressed, so no bomb goes off', async t => {
    const bomb = await failure(`${issuer.base}/gzip-bomb`, { timeoutMs: 5000 })
    t.equal(bomb.error.message, `${issuer.base}/gzip-bomb: answered compressed, which was not asked for`)
  })

  await t.test('an answer that is not JSON is refused, without the body in the error', async t => {
    const { error } = await failure(`${issuer.base}/garbage`)
    t.equal(error.message, `${issuer.base}/garbage: response is not valid JSON`)
    t.notMatch(error.message, SECRET)
  })

  await t.test('an unreachable issuer', async t => {
    const closed = createServer()
    await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
    const { port } = closed.address() as AddressInfo
    await new Promise(resolve => closed.close(resolve))
    const refused = await failure(`http://127.0.0.1:${port}/jwks.json`)
    t.equal(refused.error.message, `http://127.0.0.1:${port}/jwks.json: unreachable (ECONNREFUSED)`)
    const unsupported = await failure('ftp://127.0.0.1/jwks.json')
    t.same(await fetchJson(`${issuer.base.replace('http:', 'HTTP:')}/ok`, limits), { keys: [{ kid: 'é' }] }, 'the scheme in any case')
    t.equal(unsupported.error.message, 'ftp://127.0.0.1/jwks.json: unreachable (ERR_INVALID_PROTOCOL)', 'an address no HTTP client can use')
  })

  await t.test('an https issuer must present a certificate the process trusts', async t => {
    // A self-signed certificate for 127.0.0.1, made for this test only (test/fixtures/tls).
    const tls = new URL('../fixtures/tls/', import.meta.url)
    const server = createHttpsServer({ key: readFileSync(new URL('self-signed.key', tls)), cert: readFileSync(new URL('self-signed.crt', tls)) }, (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}')
    })
    const port = await listen(server)
    t.teardown(() => { server.close() })
    const { error } = await failure(`https://127.0.0.1:${port}/jwks.json`)
    t.equal(error.message, `https://127.0.0.1:${port}/jwks.json: unreachable (DEPTH_ZERO_SELF_SIGNED_CERT)`)
  })

  await t.test('a protocol upgrade (101) is refused, not left hanging', async t => {
    const server = createTcpServer(socket => {
      socket.once('data', () => socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n'))
    })
    const port = await listen(server)
    t.teardown(() => { server.close() })
    const { error } = await failure(`http://127.0.0.1:${port}/jwks.json`, { timeoutMs: 30_000 })
    t.equal(error.message, `http://127.0.0.1:${port}/jwks.json: answered 101 (a protocol upgrade), which is not followed`)
    t.equal(error.status, 101)
  })

  await t.test('a caller signal cancels the fetch, waiting for headers or for the body', async t => {
    for (const path of ['/hang', '/slow-body']) {
      const controller = new AbortController()
      setTimeout(() => controller.abort(), 20)
      const { error, elapsed } = await failure(`${issuer.base}${path}`, { timeoutMs: 30_000, signal: controller.signal })
      t.equal(error.message, `${issuer.base}${path}: the fetch was cancelled`)
      t.ok(elapsed < 10_000, `well before the timeout (${elapsed} ms)`)
    }
    const live = new AbortController()
    t.same(await fetchJson(`${issuer.base}/ok`, { ...limits, signal: live.signal }), { keys: [{ kid: 'é' }] }, 'an unused signal changes nothing')
  })
})
