// Stored secrets: scrypt with salt and parameters in one string, compared in constant time.
import t from 'tap'
import { DEFAULT_SCRYPT_PARAMS, UNMATCHABLE_HASH, hashSecret, parseSecretHash, verifySecret, type SecretHash } from '../../src/issuer/secret-hash.js'

t.test('hash and verify', async t => {
  const stored = await hashSecret('local-reader-secret')
  t.match(stored, /^scrypt\$N=16384,r=8,p=1\$[\w-]{22}\$[\w-]{43}$/)
  t.not(await hashSecret('local-reader-secret'), stored, 'a fresh salt every time')
  const parsed = parseSecretHash(stored) as SecretHash
  t.match(parsed, { ...DEFAULT_SCRYPT_PARAMS })
  t.equal(await verifySecret('local-reader-secret', parsed), true)
  t.equal(await verifySecret('local-reader-secreT', parsed), false)
  t.equal(await verifySecret('', parsed), false)
  t.equal(await verifySecret('local-reader-secret', UNMATCHABLE_HASH), false)
})

t.test('other parameters are honoured', async t => {
  const stored = await hashSecret('s', { cost: 2048, blockSize: 4, parallelization: 2 })
  t.match(stored, /^scrypt\$N=2048,r=4,p=2\$/)
  t.equal(await verifySecret('s', parseSecretHash(stored) as SecretHash), true)
})

t.test('malformed or unreasonable hashes are explained', async t => {
  const salt = 'A'.repeat(22)
  const hash = 'B'.repeat(43)
  const format = 'must look like scrypt$N=16384,r=8,p=1$<salt>$<hash> (make one with the hash-secret command)'
  const cost = 'has N outside the powers of two from 1024 to 1048576'
  const blocks = 'has r outside 1..32 or p outside 1..16'
  const heavy = 'asks for more than 256 MiB or 32 times the default work per check (lower N, r or p)'
  const cases: Array<[string, string]> = [
    ['plain-text', format],
    [`scrypt$N=16384,r=8$${salt}$${hash}`, format],
    [`scrypt$N=16384,r=8,p=1$short$${hash}`, format],
    [`scrypt$N=16384,r=8,p=1$${salt}$short`, format],
    [`scrypt$N=1000,r=8,p=1$${salt}$${hash}`, cost],
    [`scrypt$N=512,r=8,p=1$${salt}$${hash}`, cost],
    [`scrypt$N=2097152,r=8,p=1$${salt}$${hash}`, cost],
    [`scrypt$N=99999999999999999999,r=8,p=1$${salt}$${hash}`, cost],
    [`scrypt$N=16384,r=0,p=1$${salt}$${hash}`, blocks],
    [`scrypt$N=16384,r=33,p=1$${salt}$${hash}`, blocks],
    [`scrypt$N=16384,r=8,p=0$${salt}$${hash}`, blocks],
    [`scrypt$N=16384,r=8,p=17$${salt}$${hash}`, blocks],
    [`scrypt$N=1048576,r=32,p=1$${salt}$${hash}`, heavy],
    [`scrypt$N=1048576,r=4,p=1$${salt}$${hash}`, heavy],
    [`scrypt$N=65536,r=32,p=16$${salt}$${hash}`, heavy],
    [`scrypt$N=16384,r=8,p=33$${salt}$${hash}`, blocks]
  ]
  // At the bounds: 256 MiB (N * r = 2^21), and 32 times the default work (N * r * p = 2^22).
  for (const text of [`scrypt$N=1048576,r=2,p=2$${salt}$${hash}`, `scrypt$N=65536,r=32,p=2$${salt}$${hash}`, `scrypt$N=1024,r=32,p=16$${salt}$${hash}`]) {
    t.type(parseSecretHash(text), 'object', text)
  }
  for (const [text, reason] of cases) t.equal(parseSecretHash(text), reason, text)
})
