// Settings: options, then LOCAL_ISSUER_* variables, then defaults. The config file: the shipped one
// is valid and matches the documented credentials; every mistake fails start-up with one line
// naming the file and the field.
import { writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import { DEFAULT_PORT, defaultLocalIssuerUrl, loadIssuerConfig, resolveSettings } from '../../src/issuer/config.js'
import { DEV_AUDIENCE, DEV_CLIENT_SECRETS, DEV_USER } from '../../src/dev-credentials.js'
import { verifySecret } from '../../src/issuer/secret-hash.js'
import { startLocalIssuer } from '../../src/issuer/server.js'
import { findProjectRoot } from '../../src/project-root.js'
import { SHIPPED_CONFIG, testConfig, testDirs } from './helpers.js'

const ROOT = findProjectRoot()

t.test('the shipped config holds what the README documents', async t => {
  const config = await loadIssuerConfig(SHIPPED_CONFIG)
  const api = config.apis.get(DEV_AUDIENCE)
  t.match(api, { scopes: ['read:messages', 'write:messages'], rbac: true, tokenLifetimeSeconds: 86400 })
  for (const [clientId, secret] of DEV_CLIENT_SECRETS) {
    const client = config.clients.get(clientId)
    t.ok(client !== undefined && await verifySecret(secret, client.secretHash), `${clientId}'s documented secret matches its hash`)
  }
  t.same([...config.clients.get('m2m-reader')?.scopes.get(DEV_AUDIENCE) ?? []], ['read:messages'])
  t.same([...config.clients.get('m2m-basic')?.scopes.get(DEV_AUDIENCE) ?? ['missing']], [])
  t.same([...config.clients.get('local-app')?.grantTypes ?? []], ['password'])
  const user = config.users.get(DEV_USER.username)
  t.ok(user !== undefined && await verifySecret(DEV_USER.password, user.passwordHash), 'the documented password matches')
  t.same([...user?.scopes.get(DEV_AUDIENCE) ?? []], ['read:messages'])
})

t.test('defaults: no users, rbac off, Auth0 lifetime, users without scopes', async t => {
  const base = await testConfig()
  const client = { ...(base.clients as Array<Record<string, unknown>>)[1], scopes: { 'https://a/': [] } }
  const { configPath } = await testDirs(t, { apis: [{ identifier: 'https://a/', scopes: [] }], clients: [client] })
  const config = await loadIssuerConfig(configPath)
  t.match(config.apis.get('https://a/'), { rbac: false, tokenLifetimeSeconds: 86400 })
  t.equal(config.users.size, 0)

  const { passwordHash } = (base.users as Array<Record<string, unknown>>)[0] as { passwordHash: string }
  const withUser = await testDirs(t, { apis: [{ identifier: 'https://a/', scopes: [] }], clients: [client], users: [{ id: 'u1', username: 'u', passwordHash }] })
  t.equal((await loadIssuerConfig(withUser.configPath)).users.get('u')?.scopes.size, 0)
})

t.test('every mistake is one line naming the file and the field', async t => {
  const base = await testConfig()
  const [api] = base.apis as Array<Record<string, unknown>>
  const [client] = base.clients as Array<Record<string, unknown>>
  const [user] = base.users as Array<Record<string, unknown>>
  const AUD = 'https://quickstarts/api'
  const cases: Array<[string, unknown, string]> = [
    ['not an object', [], '(top level) must be an object'],
    ['a typo at the top', { ...base, clinets: [] }, '(top level) has unknown field "clinets" (expected $comment, apis, clients, users)'],
    ['no apis', { ...base, apis: undefined }, 'apis must be an array'],
    ['empty apis', { ...base, apis: [] }, 'apis must not be empty'],
    ['api not an object', { ...base, apis: ['x'] }, 'apis[0] must be an object'],
    ['api without identifier', { ...base, apis: [{ ...api, identifier: '' }] }, 'apis[0].identifier must be a non-empty string'],
    ['api name', { ...base, apis: [{ ...api, name: 5 }] }, 'apis[0].name must be a non-empty string'],
    ['api scopes', { ...base, apis: [{ ...api, scopes: 'read' }] }, 'apis[0].scopes must be an array'],
    ['api scope type', { ...base, apis: [{ ...api, scopes: [1] }] }, 'apis[0].scopes[0] must be a non-empty string'],
    ['api scope spaces', { ...base, apis: [{ ...api, scopes: ['read messages'] }] }, 'apis[0].scopes[0] "read messages" is not a valid scope (no spaces, quotes or backslashes)'],
    ['api scope twice', { ...base, apis: [{ ...api, scopes: ['a', 'b', 'a'] }] }, 'apis[0].scopes lists "a" twice'],
    ['rbac', { ...base, apis: [{ ...api, rbac: 'yes' }] }, 'apis[0].rbac must be true or false'],
    ['lifetime zero', { ...base, apis: [{ ...api, tokenLifetimeSeconds: 0 }] }, 'apis[0].tokenLifetimeSeconds must be a whole number of seconds above 0'],
    ['lifetime text', { ...base, apis: [{ ...api, tokenLifetimeSeconds: '1h' }] }, 'apis[0].tokenLifetimeSeconds must be a whole number of seconds above 0'],
    ['api twice', { ...base, apis: [api, api] }, `apis[1].identifier repeats "${AUD}"`],
    ['clients missing', { ...base, clients: {} }, 'clients must be an array'],
    ['clients empty', { ...base, clients: [] }, 'clients must not be empty'],
    ['client typo', { ...base, clients: [{ ...client, grantType: [] }] }, 'clients[0] has unknown field "grantType" (expected clientId, name, secretHash, grantTypes, scopes, certificate)'],
    ['client id', { ...base, clients: [{ ...client, clientId: null }] }, 'clients[0].clientId must be a non-empty string'],
    ['client name', { ...base, clients: [{ ...client, name: '' }] }, 'clients[0].name must be a non-empty string'],
    ['plain-text secret', { ...base, clients: [{ ...client, secretHash: 'reader-secret' }] },
      'clients[0].secretHash must look like scrypt$N=16384,r=8,p=1$<salt>$<hash> (make one with the hash-secret command)'],
    ['no grant types', { ...base, clients: [{ ...client, grantTypes: [] }] }, 'clients[0].grantTypes must not be empty'],
    ['unknown grant type', { ...base, clients: [{ ...client, grantTypes: ['implicit'] }] }, 'clients[0].grantTypes[0] must be one of client_credentials, password (got "implicit")'],
    ['grant type twice', { ...base, clients: [{ ...client, grantTypes: ['password', 'password'] }] }, 'clients[0].grantTypes lists "password" twice'],
    ['scopes not an object', { ...base, clients: [{ ...client, scopes: [] }] }, 'clients[0].scopes must be an object'],
    ['unknown api', { ...base, clients: [{ ...client, scopes: { 'https://nope/': [] } }] }, 'clients[0].scopes["https://nope/"] names an API that is not in apis'],
    ['granted scopes not a list', { ...base, clients: [{ ...client, scopes: { [AUD]: 'read:messages' } }] }, `clients[0].scopes["${AUD}"] must be an array`],
    ['granted scope unknown', { ...base, clients: [{ ...client, scopes: { [AUD]: ['read:other'] } }] }, `clients[0].scopes["${AUD}"][0] "read:other" is not a scope of that API`],
    ['granted scope twice', { ...base, clients: [{ ...client, scopes: { [AUD]: ['read:messages', 'read:messages'] } }] }, `clients[0].scopes["${AUD}"] lists "read:messages" twice`],
    ['client twice', { ...base, clients: [client, client] }, 'clients[1].clientId repeats "m2m-reader"'],
    ['certificate not a path', { ...base, clients: [{ ...client, certificate: 3 }] }, 'clients[0].certificate must be a non-empty string'],
    ['users not a list', { ...base, users: {} }, 'users must be an array'],
    ['user typo', { ...base, users: [{ ...user, password: 'x' }] }, 'users[0] has unknown field "password" (expected id, username, passwordHash, scopes)'],
    ['user id', { ...base, users: [{ ...user, id: 1 }] }, 'users[0].id must be a non-empty string'],
    ['username', { ...base, users: [{ ...user, username: '' }] }, 'users[0].username must be a non-empty string'],
    ['password hash', { ...base, users: [{ ...user, passwordHash: undefined }] }, 'users[0].passwordHash must be a non-empty string'],
    ['user scopes', { ...base, users: [{ ...user, scopes: { [AUD]: ['write:nothing'] } }] }, `users[0].scopes["${AUD}"][0] "write:nothing" is not a scope of that API`],
    ['user id twice', { ...base, users: [user, { ...user, username: 'other@example.com' }] }, 'users[1].id repeats "auth0|test-user"'],
    ['username twice', { ...base, users: [user, { ...user, id: 'auth0|other' }] }, 'users[1].username repeats "user@example.com"']
  ]
  for (const [name, config, problem] of cases) {
    const { configPath } = await testDirs(t, config)
    await t.rejects(loadIssuerConfig(configPath), { message: `Invalid local issuer config ${configPath}: ${problem}` }, name)
  }

  const { dir } = await testDirs(t)
  const notJson = join(dir, 'broken.json')
  writeFileSync(notJson, '{ "apis": [ }')
  await t.rejects(loadIssuerConfig(notJson), { message: new RegExp(`^Invalid local issuer config ${notJson}: not JSON \\(.+\\)$`) })
  const missing = join(dir, 'missing.json')
  await t.rejects(loadIssuerConfig(missing), { message: `Cannot read the local issuer config ${missing}: ENOENT (set LOCAL_ISSUER_CONFIG to another file)` })
})

t.test('a bad config stops the issuer from starting, via option or LOCAL_ISSUER_CONFIG', async t => {
  const { configPath, keyDir } = await testDirs(t, { apis: [] })
  const message = `Invalid local issuer config ${configPath}: apis must not be empty`
  await t.rejects(startLocalIssuer({ port: 0, logger: false, env: {}, configPath, keyDir }), { message })
  await t.rejects(startLocalIssuer({ port: 0, logger: false, env: { LOCAL_ISSUER_CONFIG: configPath, LOCAL_ISSUER_KEY_DIR: keyDir } }), { message })
})

t.test('settings: options first, then LOCAL_ISSUER_* variables, then defaults', async t => {
  t.same(resolveSettings({ env: {} }), {
    port: DEFAULT_PORT,
    host: '127.0.0.1',
    configPath: join(ROOT, 'config', 'local-issuer.json'),
    keyDir: join(ROOT, '.local-issuer')
  })
  t.same(resolveSettings({ env: { LOCAL_ISSUER_PORT: '', LOCAL_ISSUER_CONFIG: '', LOCAL_ISSUER_KEY_DIR: '' } }).port, DEFAULT_PORT, 'empty means unset')
  t.same(resolveSettings({ env: { LOCAL_ISSUER_PORT: '4000', LOCAL_ISSUER_CONFIG: 'a.json', LOCAL_ISSUER_KEY_DIR: 'keys' } }), {
    port: 4000, host: '127.0.0.1', configPath: resolve('a.json'), keyDir: resolve('keys')
  })
  t.same(resolveSettings({ port: 5, host: 'localhost', configPath: '/c.json', keyDir: '/k', env: { LOCAL_ISSUER_PORT: '4000', LOCAL_ISSUER_CONFIG: 'a.json' } }), {
    port: 5, host: '127.0.0.1', configPath: '/c.json', keyDir: '/k'
  })
  // The service passes its validated LOCAL_ISSUER_* values as options, where an empty one used to
  // resolve to the working directory: the private signing key was written there.
  t.same(resolveSettings({ configPath: '', keyDir: '', env: {} }), {
    port: DEFAULT_PORT, host: '127.0.0.1', configPath: join(ROOT, 'config', 'local-issuer.json'), keyDir: join(ROOT, '.local-issuer')
  }, 'empty options mean the defaults too')
  t.same(resolveSettings({ configPath: '', keyDir: '', env: { LOCAL_ISSUER_CONFIG: 'a.json', LOCAL_ISSUER_KEY_DIR: 'keys' } }), {
    port: DEFAULT_PORT, host: '127.0.0.1', configPath: resolve('a.json'), keyDir: resolve('keys')
  }, 'and give way to the variables')
  for (const bad of ['abc', '-1', '1.5', '65536']) {
    t.throws(() => resolveSettings({ env: { LOCAL_ISSUER_PORT: bad } }), { message: `Invalid LOCAL_ISSUER_PORT "${bad}": expected a port number from 0 to 65535` })
  }
  t.equal(resolveSettings({}).port, Number(process.env.LOCAL_ISSUER_PORT ?? DEFAULT_PORT), 'process.env by default')
  t.equal(defaultLocalIssuerUrl({}), 'http://localhost:3011/')
  t.equal(defaultLocalIssuerUrl({ LOCAL_ISSUER_PORT: '4000' }), 'http://localhost:4000/')
  t.throws(() => defaultLocalIssuerUrl({ LOCAL_ISSUER_PORT: 'x' }), { message: 'Invalid LOCAL_ISSUER_PORT "x": expected a port number from 0 to 65535' })
})

t.test('signing: RS256 with the RSA key by default, or HS256/384/512 with the API\'s SECRET', async t => {
  const secret = 'a-shared-secret-of-32-bytes-long'
  t.equal(resolveSettings({ env: {} }).hmac, undefined)
  for (const algorithm of ['HS256', 'HS384', 'HS512']) {
    t.same(resolveSettings({ env: {}, signing: { algorithm, secret } }).hmac, { algorithm, secret: Buffer.from(secret) }, algorithm)
  }
  t.same(resolveSettings({ env: {}, signing: { algorithm: 'HS256', secret: 'é'.repeat(16) } }).hmac?.secret, Buffer.from('é'.repeat(16), 'utf8'), 'UTF-8 bytes: 16 characters, 32 bytes')
  for (const algorithm of ['RS256', 'ES256', 'none', 'hs256', '']) {
    t.throws(() => resolveSettings({ env: {}, signing: { algorithm, secret } }), {
      message: `ALGORITHMS names ${algorithm}, which the local issuer cannot sign: it signs RS256 with its own key, or HS256, HS384, HS512 with SECRET`
    }, JSON.stringify(algorithm))
  }
  for (const short of ['', 'x'.repeat(31), 'é'.repeat(15) + 'x']) {
    t.throws(() => resolveSettings({ env: {}, signing: { algorithm: 'HS384', secret: short } }), {
      message: 'SECRET must be at least 32 bytes long to sign HS384 access tokens'
    }, `${Buffer.byteLength(short)} bytes`)
  }
  const { configPath, keyDir } = await testDirs(t)
  await t.rejects(startLocalIssuer({ port: 0, logger: false, env: {}, configPath, keyDir, signing: { algorithm: 'HS256', secret: 'short' } }), {
    message: 'SECRET must be at least 32 bytes long to sign HS256 access tokens'
  }, 'the issuer does not start')
})
