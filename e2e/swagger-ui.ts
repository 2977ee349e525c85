// `npm run test:e2e`: Swagger UI in a real headless Chromium against the real service, offline.
// Not part of `npm test`: it needs Debian's chromium (`apt-get install -y chromium`).
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { DEV_AUDIENCE, DEV_CLIENT_SECRETS, SCOPED_CLIENT } from '../src/dev-credentials.js'
import { requestClientCredentialsToken } from '../src/issuer/commands.js'
import { startServer } from '../src/server.js'
import { freePort } from '../test/helpers/ports.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** Headless, and quiet: no GPU, no QUIC, no calls home of any kind. */
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'
]
const SCREENSHOT = fileURLToPath(new URL('../../e2e-screenshot.png', import.meta.url))
const ENDPOINTS = ['/api/public', '/api/private', '/api/private-scoped']

function check (condition: boolean, what: string): void {
  if (!condition) throw new Error(`FAILED: ${what}`)
  process.stdout.write(`ok - ${what}\n`)
}

/** Expands an operation, presses "Try it out" then "Execute", and reads the status shown. */
async function tryOut (page: Page, path: string): Promise<{ status: string, body: string }> {
  const operation = page.locator('.opblock').filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) })
  if (!await operation.locator('.try-out__btn').isVisible()) await operation.locator('.opblock-summary').click()
  const tryOutButton = operation.locator('.try-out__btn')
  if ((await tryOutButton.textContent())?.trim() === 'Try it out') await tryOutButton.click()
  await operation.locator('.btn.execute').click()
  const statusCell = operation.locator('.live-responses-table .response .response-col_status').first()
  await statusCell.waitFor()
  const status = (await statusCell.textContent() ?? '').trim()
  const body = await operation.locator('.live-responses-table .response-col_description pre').first().textContent() ?? ''
  // Clear the answer so the next call cannot be confused with this one.
  await operation.locator('.btn-clear').click()
  return { status, body }
}

async function authorize (page: Page, token: string): Promise<void> {
  await page.locator('.auth-wrapper .btn.authorize').click()
  const bearer = page.locator('.auth-container').filter({ has: page.locator('#auth-bearer-value') })
  await bearer.locator('#auth-bearer-value').fill(token)
  await bearer.locator('button.authorize').click()
  await page.locator('.modal-ux .btn-done').first().click()
}

async function run (): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or set CHROMIUM_PATH)`)
  }
  const keyDir = mkdtempSync(join(tmpdir(), 'e2e-issuer-'))
  const [port, issuerPort] = [await freePort(), await freePort()]
  // Local issuer mode, on free ports, with a throw-away signing key: nothing of the developer's is touched.
  const server = await startServer({
    env: { PORT: String(port), LOCAL_ISSUER_PORT: String(issuerPort), LOCAL_ISSUER_KEY_DIR: keyDir, LOG_LEVEL: 'warn' }
  })
  let browser: Browser | undefined
  try {
    const token = await requestClientCredentialsToken({
      issuer: server.authSettings.issuers[0].issuer,
      clientId: SCOPED_CLIENT,
      clientSecret: DEV_CLIENT_SECRETS.get(SCOPED_CLIENT) as string,
      audience: DEV_AUDIENCE,
      scope: 'read:messages'
    })
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS })
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } })
    await page.goto(`http://127.0.0.1:${port}/docs`)
    await page.locator('.opblock-summary-path').first().waitFor()
    const listed = await page.locator('.opblock-summary-path').evaluateAll(nodes => nodes.map(node => node.getAttribute('data-path')))
    for (const endpoint of ENDPOINTS) check(listed.includes(endpoint), `Swagger UI lists ${endpoint}`)

    const anonymous = await tryOut(page, '/api/private-scoped')
    check(anonymous.status === '401', `without a token, /api/private-scoped answers 401 (got ${anonymous.status})`)

    await authorize(page, token)
    const authorized = await tryOut(page, '/api/private-scoped')
    check(authorized.status === '200', `authorised with a read:messages token from the local issuer, /api/private-scoped answers 200 (got ${authorized.status})`)
    check(authorized.body.includes('You need to be authenticated and have a scope of read:messages'), 'the answer is the scoped message')

    // Leave the successful call on screen for the screenshot.
    const operation = page.locator('.opblock').filter({ has: page.locator('.opblock-summary-path[data-path="/api/private-scoped"]') })
    await operation.locator('.btn.execute').click()
    await operation.locator('.live-responses-table .response-col_status').first().waitFor()
    await operation.scrollIntoViewIfNeeded()
    await page.screenshot({ path: SCREENSHOT, fullPage: true })
    process.stdout.write(`screenshot: ${SCREENSHOT}\n`)
  } finally {
    await browser?.close()
    await server.close()
    rmSync(keyDir, { recursive: true, force: true })
  }
}

run().then(() => {
  process.stdout.write('e2e: Swagger UI passed\n')
}, (error: unknown) => {
  process.stderr.write(`e2e: ${(error as Error).message}\n`)
  process.exitCode = 1
})
