// `token --dpop` and the `dpop` command: a DPoP-bound token from the local issuer, its key and the
// token saved in the key directory (mode 0600), and the two headers of a call, checked by
// DpopProofVerifier and by the real API in local mode. The CLI files are spawned as npm runs them.
import { generateKeyPairSync } from 'node:crypto'
import { createRequire, syncBuiltinESMExports } from 'node:module'
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { accessTokenHash } from '../../src/dpop/proof-signer.js'
import { DpopProofVerifier } from '../../src/dpop/proof-verifier.js'
import { DPOP_USAGE, runDpopCommand } from '../../src/issuer/dpop-command.js'
import { dpopKeyPath, lastDpopTokenPath, loadDpopKey, loadOrCreateDpopKey } from '../../src/issuer/dpop-key-file.js'
import { TOKEN_USAGE, runTokenCommand } from '../../src/issuer/commands.js'
import { startLocalService } from '../helpers/local-service.js'
import { memoryIo, runCli } from './cli-helpers.js'
import { SHIPPED_CONFIG, startTestIssuer, testDirs, verifyAgainstJwks } from './helpers.js'

const verifier = new DpopProofVerifier({ algorithms: ['ES256'], maxAgeSeconds: 60, maxFutureSeconds: 5 })
const noStdin = async (): Promise<string> => { throw new Error('stdin was not to be read') }
const mode = (path: string): number => statSync(path).mode & 0o777

/** The two lines the dpop command prints, as headers. */
function headersOf (lines: readonly string[]): { authorization: string, dpop: string } {
  const [authorization = '', dpop = ''] = lines
  if (!authorization.startsWith('Authorization: DPoP ') || !dpop.startsWith('DPoP: ')) throw new Error(`not the two header lines: ${lines.join(' | ')}`)
  return { authorization: authorization.slice('Authorization: '.length), dpop: dpop.slice('DPoP: '.length) }
}

t.test('token --dpop: a token bound to the saved key; dpop prints the headers of a call with it', async t => {
  const { keyDir } = await testDirs(t)
  const { issuer } = await startTestIssuer(t, { configPath: SHIPPED_CONFIG, keyDir })
  const env = { LOCAL_ISSUER_KEY_DIR: keyDir }

  const first = await runCli('token-cli.ts', ['--dpop', '--scope', 'read:messages', '--issuer', issuer], env)
  t.same({ code: first.code, stderr: first.stderr }, { code: 0, stderr: '' })
  t.match(first.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'only the token on stdout')
  const token = first.stdout.trim()
  const key = await loadDpopKey(keyDir)
  t.match((await verifyAgainstJwks(issuer, token)).payload, { sub: 'm2m-reader@clients', scope: 'read:messages', cnf: { jkt: key.thumbprint } })
  t.equal(mode(dpopKeyPath(keyDir)), 0o600, 'the private key is readable by its owner only')
  t.equal(readFileSync(lastDpopTokenPath(keyDir), 'utf8'), `${token}\n`, 'the token is saved for the dpop command')
  t.equal(mode(lastDpopTokenPath(keyDir)), 0o600)

  const io = memoryIo()
  t.equal(await runTokenCommand(['--dpop', '--issuer', issuer], env, io), 0)
  const second = io.stdout[0] as string
  t.same((await verifyAgainstJwks(issuer, second)).payload.cnf, { jkt: key.thumbprint }, 'the second token: the same key')
  t.equal(readFileSync(lastDpopTokenPath(keyDir), 'utf8'), `${second}\n`, 'the latest token replaces the last')

  // The headers, for the last token, for a token argument and for one on stdin.
  const url = 'http://localhost:3010/api/private'
  const spawned = await runCli('dpop-cli.ts', ['get', `${url}?page=2#top`], env)
  t.same({ code: spawned.code, stderr: spawned.stderr }, { code: 0, stderr: '' })
  const lines = spawned.stdout.split('\n')
  t.equal(lines.length, 3, 'two lines')
  const last = headersOf(lines)
  t.equal(last.authorization, `DPoP ${second}`, 'the last token')
  const checked = verifier.check(last.dpop, { method: 'GET', url, accessToken: second })
  t.equal(checked.thumbprint, key.thumbprint, 'signed with the saved key, for GET and the URL without query, with ath')
  t.equal(checked.nonce, undefined)

  const piped = await runCli('dpop-cli.ts', ['POST', 'https://api.example.test/messages', '-', '--nonce', 'rs-nonce'], env, `${token}\n`)
  const fromStdin = headersOf(piped.stdout.split('\n'))
  t.equal(fromStdin.authorization, `DPoP ${token}`, 'the token from stdin')
  t.match(verifier.check(fromStdin.dpop, { method: 'POST', url: 'https://api.example.test/messages', accessToken: token }), { nonce: 'rs-nonce' })

  const argument = memoryIo()
  t.equal(await runDpopCommand(['DELETE', 'https://api.example.test/messages/1', token], env, argument, noStdin), 0)
  const given = headersOf(argument.stdout)
  t.equal(given.authorization, `DPoP ${token}`)
  t.match(JSON.parse(Buffer.from(given.dpop.split('.')[1] as string, 'base64url').toString()), { htm: 'DELETE', ath: accessTokenHash(token) })
})

t.test('the headers work against the API in local mode, a nonce when it asks for one', async t => {
  const { issuer, api, keyDir } = await startLocalService(t, { DPOP_NONCE: 'true', DPOP_NONCE_SECRET: 'a-nonce-secret-of-at-least-32-bytes!' })
  const env = { LOCAL_ISSUER_KEY_DIR: keyDir }
  const io = memoryIo()
  t.equal(await runTokenCommand(['--dpop', '--scope', 'read:messages', '--issuer', issuer], env, io), 0)
  const url = `${api}/private-scoped`
  const call = async (args: string[] = []): Promise<Response> => {
    const headers = memoryIo()
    t.equal(await runDpopCommand(['GET', url, ...args], env, headers, noStdin), 0)
    const { authorization, dpop } = headersOf(headers.stdout)
    return await fetch(url, { headers: { authorization, dpop } })
  }
  const asked = await call()
  t.equal(asked.status, 401)
  t.match(asked.headers.get('www-authenticate'), /error="use_dpop_nonce"/)
  const nonce = asked.headers.get('dpop-nonce') as string
  const answered = await call(['--nonce', nonce])
  t.equal(answered.status, 200)
  t.match(await answered.json(), { message: /read:messages/ })
})

t.test('dpop: usage and every mistake, one line on stderr', async t => {
  const { keyDir } = await testDirs(t)
  const env = { LOCAL_ISSUER_KEY_DIR: keyDir }
  const run = async (args: string[], stdin = noStdin): Promise<{ code: number, stdout: string[], stderr: string[] }> => {
    const io = memoryIo()
    const code = await runDpopCommand(args, env, io, stdin)
    return { code, stdout: io.stdout, stderr: io.stderr }
  }
  t.same(await run(['-h']), { code: 0, stdout: [DPOP_USAGE], stderr: [] })
  t.same(await run([]), { code: 1, stdout: [], stderr: [DPOP_USAGE] })
  t.same(await run(['GET']), { code: 1, stdout: [], stderr: [DPOP_USAGE] })
  t.same(await run(['GET', 'https://a.test/', 'token', 'extra']), { code: 1, stdout: [], stderr: [DPOP_USAGE] })
  t.match(await run(['GET', 'https://a.test/', '--bogus']), { code: 1, stdout: [], stderr: [/^dpop: Unknown option '--bogus'/] })

  const fail = async (args: string[], message: string, stdin = noStdin): Promise<void> => {
    t.same(await run(args, stdin), { code: 1, stdout: [], stderr: [`dpop: ${message}`] }, args.join(' '))
  }
  await fail(['GET', 'https://a.test/'], `no DPoP token in ${lastDpopTokenPath(keyDir)}: get a DPoP token first with: npm run token -- --dpop`)
  await fail(['GET', 'https://a.test/', 'tok'], `no DPoP key in ${dpopKeyPath(keyDir)}: get a DPoP token first with: npm run token -- --dpop`)
  await loadOrCreateDpopKey(keyDir)
  await fail(['GE T', 'https://a.test/', 'tok'], '"GE T" is not an HTTP method')
  await fail(['GET', 'ftp://a.test/', 'tok'], '"ftp://a.test/" is not an http or https URL')
  await fail(['GET', '/api/private', 'tok'], '"/api/private" is not an http or https URL')
  const notAToken = 'the access token is empty or not a token (letters, digits and -._~+/ only)'
  await fail(['GET', 'https://a.test/', 'tok\r\nX-Injected: 1'], notAToken)
  await fail(['GET', 'https://a.test/', '-'], notAToken, async () => '\n')
  await fail(['GET', 'https://a.test/', 'tok', '--nonce', 'a "quoted" nonce'], '--nonce is not a DPoP nonce (printable ASCII without spaces, quotes or backslashes)')

  writeFileSync(dpopKeyPath(keyDir), 'not a key')
  await fail(['GET', 'https://a.test/', 'tok'], `${dpopKeyPath(keyDir)} is not a P-256 (ES256) private key: delete it, and get a new DPoP token with: npm run token -- --dpop`)
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' })
  writeFileSync(dpopKeyPath(keyDir), privateKey.export({ type: 'pkcs8', format: 'pem' }))
  await fail(['GET', 'https://a.test/', 'tok'], `${dpopKeyPath(keyDir)} is not a P-256 (ES256) private key: delete it, and get a new DPoP token with: npm run token -- --dpop`)
  mkdirSync(lastDpopTokenPath(keyDir))
  await fail(['GET', 'https://a.test/'], `cannot read ${lastDpopTokenPath(keyDir)} (EISDIR)`)
})

t.test('token --dpop: failures are one line; the usage names the flag', async t => {
  const { dir } = await testDirs(t)
  const file = join(dir, 'a-file')
  writeFileSync(file, '')
  const io = memoryIo()
  t.equal(await runTokenCommand(['--dpop'], { LOCAL_ISSUER_KEY_DIR: join(file, 'keys') }, io), 1)
  t.match(io.stderr, [/^token: ENOTDIR: not a directory, stat '.+a-file\/keys\/dpop-key\.pem'$/])
  t.match(TOKEN_USAGE, /--dpop: a DPoP-bound token/)
})

t.test('the DPoP key is made once, whoever asks first; a failed link leaves nothing behind', async t => {
  const { keyDir } = await testDirs(t)
  const keys = await Promise.all(Array.from({ length: 8 }, async () => await loadOrCreateDpopKey(keyDir)))
  t.same([...new Set(keys.map(key => key.thumbprint))], [keys[0]?.thumbprint], 'eight at once: one key')
  t.same(readdirSync(keyDir), ['dpop-key.pem'], 'no temporary file left behind')

  // Hard links fail with EPERM on some file systems (see keys.test.ts for why the builtin is patched).
  const other = join(keyDir, 'other')
  const fsPromises = createRequire(import.meta.url)('node:fs/promises') as typeof import('node:fs/promises')
  const realLink = fsPromises.link
  fsPromises.link = async () => { throw Object.assign(new Error('hard links not supported'), { code: 'EPERM' }) }
  syncBuiltinESMExports()
  t.teardown(() => { fsPromises.link = realLink; syncBuiltinESMExports() })
  await t.rejects(loadOrCreateDpopKey(other), { code: 'EPERM' })
  t.same(readdirSync(other), [], 'no temporary file left behind')
})
