// Signing keys: generated once, kept (mode 0600) across restarts, rotated and retired by hand
// while the issuer runs, and every broken key file explained in one line.
import { generateKeyPairSync } from 'node:crypto'
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire, syncBuiltinESMExports } from 'node:module'
import { join } from 'node:path'
import t from 'tap'
import { KeyStore, createKeyFile, generateSigningKey, keyFilePath, retireOldKeys, rotateSigningKey } from '../../src/issuer/keys.js'
import { SECRETS, captureLogs, clientCredentials, postToken, startTestIssuer, testDirs, verifyAgainstJwks } from './helpers.js'

const silent = { info: (): void => {} }

async function jwksKids (issuer: string): Promise<string[]> {
  const { keys } = await (await fetch(new URL('.well-known/jwks.json', issuer))).json() as { keys: Array<{ kid: string }> }
  return keys.map(key => key.kid)
}

async function token (issuer: string): Promise<string> {
  const { body } = await postToken(issuer, clientCredentials('m2m-reader', SECRETS.reader))
  return body.access_token as string
}

const kidOf = (jwt: string): string => (JSON.parse(Buffer.from(jwt.split('.')[0] as string, 'base64url').toString()) as { kid: string }).kid

t.test('the first start generates a key that later starts reuse', async t => {
  const { configPath, keyDir } = await testDirs(t)
  const logs = captureLogs()
  const first = await startTestIssuer(t, { configPath, keyDir, logger: logs.logger })
  const issued = await token(first.issuer)
  const [kid] = await jwksKids(first.issuer)
  await first.close()

  const file = keyFilePath(keyDir)
  t.equal(statSync(file).mode & 0o777, 0o600, 'the key file is readable by its owner only')
  t.equal(statSync(keyDir).mode & 0o777, 0o700, 'so is its directory')
  t.match(logs.lines[0], { msg: 'generated a new RSA signing key', kid, file })
  t.match(JSON.parse(readFileSync(file, 'utf8')), { keys: [{ createdAt: String, privateKeyPem: /^-----BEGIN PRIVATE KEY-----/ }] })

  const second = await startTestIssuer(t, { configPath, keyDir, port: Number(new URL(first.issuer).port) })
  t.same(await jwksKids(second.issuer), [kid], 'same key after a restart')
  const { payload } = await verifyAgainstJwks(second.issuer, issued)
  t.equal(payload.sub, 'm2m-reader@clients', 'a token from before the restart still verifies')
})

t.test('rotate and retire take effect in the running issuer', async t => {
  const { configPath, keyDir } = await testDirs(t)
  const logs = captureLogs()
  const { issuer } = await startTestIssuer(t, { configPath, keyDir, logger: logs.logger })
  const before = await token(issuer)
  const [oldKid] = await jwksKids(issuer)

  const rotated = await rotateSigningKey(keyDir)
  t.equal(rotated.published.length, 2)
  t.equal(rotated.published[0]?.kid, oldKid)
  t.same(await jwksKids(issuer), [oldKid, rotated.signing.kid], 'both keys are published')
  t.match(logs.lines.find(line => line.msg === 'key file changed: reloaded the signing keys'), { signingKid: rotated.signing.kid, publishedKids: [oldKid, rotated.signing.kid] })
  const after = await token(issuer)
  t.equal(kidOf(after), rotated.signing.kid, 'new tokens use the new key')
  await verifyAgainstJwks(issuer, before)
  t.pass('tokens signed with the old key still verify')
  t.equal(statSync(keyFilePath(keyDir)).mode & 0o777, 0o600, 'the rewritten file keeps mode 0600')

  const { retired, keys } = await retireOldKeys(keyDir)
  t.same(retired.map(key => key.kid), [oldKid])
  t.same(keys.published.map(key => key.kid), [rotated.signing.kid])
  t.same(await jwksKids(issuer), [rotated.signing.kid], 'the old key is gone from the JWKS')
  await t.rejects(verifyAgainstJwks(issuer, before), { message: `kid ${String(oldKid)} is not in the JWKS` })
  await verifyAgainstJwks(issuer, after)

  const again = await retireOldKeys(keyDir)
  t.same(again.retired, [], 'nothing left to retire')
})

t.test('rotate on an empty key directory creates the first key', async t => {
  const { keyDir } = await testDirs(t)
  const keys = await rotateSigningKey(keyDir)
  t.equal(keys.published.length, 1)
  await t.rejects(retireOldKeys(join(keyDir, 'elsewhere')), { code: 'ENOENT' })
})

t.test('a deleted key file is regenerated on the next request', async t => {
  const { configPath, keyDir } = await testDirs(t)
  const { issuer } = await startTestIssuer(t, { configPath, keyDir })
  const [first] = await jwksKids(issuer)
  rmSync(keyFilePath(keyDir))
  const [second] = await jwksKids(issuer)
  t.not(second, first)
  t.equal(kidOf(await token(issuer)), second)
})

t.test('two processes starting at once agree on one key', async t => {
  const { keyDir } = await testDirs(t)
  const stores = await Promise.all([KeyStore.open(keyDir, silent), KeyStore.open(keyDir, silent), KeyStore.open(keyDir, silent)])
  const kids = await Promise.all(stores.map(async store => (await store.current()).signing.kid))
  t.equal(new Set(kids).size, 1)
})

t.test('concurrent lookups share one refresh', async t => {
  const { keyDir } = await testDirs(t)
  const store = await KeyStore.open(keyDir, silent)
  const [a, b] = await Promise.all([store.current(), store.current()])
  t.equal(a, b)
})

t.test('a broken key file is explained in one line', async t => {
  const { keyDir } = await testDirs(t)
  mkdirSync(keyDir)
  const file = keyFilePath(keyDir)
  const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const cases: Array<[string, string]> = [
    ['{', 'not JSON'],
    ['null', '"keys" must be a non-empty array'],
    ['{"keys":[]}', '"keys" must be a non-empty array'],
    ['{"keys":[null]}', 'keys[0] must have string fields createdAt and privateKeyPem'],
    ['{"keys":[{"createdAt":"now"}]}', 'keys[0] must have string fields createdAt and privateKeyPem'],
    ['{"keys":[{"createdAt":"now","privateKeyPem":"nope"}]}', 'keys[0].privateKeyPem is not a PEM private key'],
    [JSON.stringify({ keys: [{ createdAt: 'now', privateKeyPem: ecKey }] }), 'keys[0].privateKeyPem is a ec key, not RSA']
  ]
  for (const [text, problem] of cases) {
    writeFileSync(file, text)
    await t.rejects(KeyStore.open(keyDir, silent), { message: `Invalid key file ${file}: ${problem} (delete it to start over with a new key)` }, problem)
  }
})

t.test('a key file broken while running fails token requests with server_error, logged', async t => {
  const { configPath, keyDir } = await testDirs(t)
  const logs = captureLogs()
  const { issuer } = await startTestIssuer(t, { configPath, keyDir, logger: logs.logger })
  writeFileSync(keyFilePath(keyDir), '{')
  const call = await postToken(issuer, clientCredentials('m2m-reader', SECRETS.reader))
  t.equal(call.status, 500)
  t.same(call.body, { error: 'server_error', error_description: 'the local issuer failed; see its log' })
  t.match(logs.lines.find(line => line.level === 50), { msg: 'local issuer failed', err: { message: /^Invalid key file .*: not JSON/ } })
  t.notMatch(JSON.stringify(call.body), /stack|at /)
})

t.test('a key directory that cannot hold the file stops start-up', async t => {
  const { dir, configPath } = await testDirs(t)
  const notADirectory = join(dir, 'local-issuer.json')
  await t.rejects(startTestIssuer(t, { configPath, keyDir: notADirectory }), { code: 'ENOTDIR' })
})

t.test('creating the key file reports failures other than "already exists"', async t => {
  const { keyDir } = await testDirs(t)
  const key = await generateSigningKey()
  // Hard links fail with EPERM on some file systems; fake that on the real module by patching the
  // builtin and syncing its ESM exports (a mocked copy of keys.ts would not count as covered).
  const fsPromises = createRequire(import.meta.url)('node:fs/promises') as typeof import('node:fs/promises')
  const realLink = fsPromises.link
  fsPromises.link = async () => { throw Object.assign(new Error('hard links not supported'), { code: 'EPERM' }) }
  syncBuiltinESMExports()
  t.teardown(() => { fsPromises.link = realLink; syncBuiltinESMExports() })
  await t.rejects(createKeyFile(keyFilePath(keyDir), [key]), { code: 'EPERM' })
  t.same(readdirSync(keyDir), [], 'no temporary file left behind')

  fsPromises.link = realLink
  syncBuiltinESMExports()
  t.equal(await createKeyFile(keyFilePath(keyDir), [key]), true, 'the real one creates it')
  t.equal(await createKeyFile(keyFilePath(keyDir), [key]), false, 'and then finds it there')
  t.same(readdirSync(keyDir), ['signing-keys.json'])
})
