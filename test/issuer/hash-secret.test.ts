// The hash-secret CLI: what it prints is a hash the config accepts for that secret.
import t from 'tap'
import { parseSecretHash, verifySecret, type SecretHash } from '../../src/issuer/secret-hash.js'
import { runCli } from './cli-helpers.js'

t.test('hash-secret CLI: from an argument or stdin', async t => {
  const check = async (output: string, secret: string): Promise<boolean> => verifySecret(secret, parseSecretHash(output.trim()) as SecretHash)
  const fromArgument = await runCli('hash-secret.ts', ['my new secret'])
  t.equal(fromArgument.code, 0)
  t.match(fromArgument.stdout, /^scrypt\$N=16384,r=8,p=1\$[\w-]+\$[\w-]+\n$/)
  t.ok(await check(fromArgument.stdout, 'my new secret'))
  const fromStdin = await runCli('hash-secret.ts', [], {}, 'piped-secret\n')
  t.ok(await check(fromStdin.stdout, 'piped-secret'))
  const nothing = await runCli('hash-secret.ts', [], {}, '')
  t.equal(nothing.code, 1)
  t.equal(nothing.stderr, 'usage: hash-secret SECRET   or   printf %s SECRET | hash-secret\n')
})
