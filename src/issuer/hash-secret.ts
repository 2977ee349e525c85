#!/usr/bin/env node
// Prints the scrypt hash to paste into config/local-issuer.json as a secretHash or passwordHash.
// The secret comes from the first argument or, to keep it out of shell history, from stdin.
import { text } from 'node:stream/consumers'
import { hashSecret } from './secret-hash.js'

const secret = process.argv[2] ?? (await text(process.stdin)).replace(/\r?\n$/, '')
if (secret === '') {
  process.stderr.write('usage: hash-secret SECRET   or   printf %s SECRET | hash-secret\n')
  process.exitCode = 1
} else {
  process.stdout.write(await hashSecret(secret) + '\n')
}
