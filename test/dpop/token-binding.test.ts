import type { FastifyRequest } from 'fastify'
import { test } from 'tap'
import { VerifiedToken } from '../../src/auth/claims.js'
import { TokenBinding } from '../../src/auth/token-binding.js'
import { DpopProofSigner } from '../../src/dpop/proof-signer.js'
import { MemoryReplayStore } from '../../src/replay/memory-store.js'

const signer = new DpopProofSigner()
const token = new VerifiedToken({ iss: 'i', aud: 'a', exp: 0 }, new Set(), 'i', 'k', Infinity, { jkt: signer.thumbprint, certificateThumbprint: undefined })
const binding = (publicUrl: string) => new TokenBinding({
  dpop: { mode: 'allowed', algorithms: ['ES256'], maxAgeSeconds: 300, maxFutureSeconds: 30, publicUrl, nonceSecret: undefined },
  clockToleranceSeconds: 5,
  replayStore: new MemoryReplayStore(),
  nonces: undefined,
  certificateOf: () => undefined
})
const request = (url: string, dpop: string) => ({ method: 'GET', url, headers: { dpop }, raw: { rawHeaders: ['DPoP', dpop] } }) as unknown as FastifyRequest
const codeOf = async (check: () => Promise<void> | undefined) => {
  try {
    await check()
    return 'accepted'
  } catch (error) {
    return (error as { code: string }).code
  }
}

test('the expected htu of each request path is kept, a thousand at most', async t => {
  const checker = binding('https://api.example.test')
  // More distinct paths than the cache holds: it starts over, and keeps answering right.
  const codes = new Set<string>()
  for (let i = 0; i < 1001; i++) codes.add(await codeOf(() => checker.check(request(`/items/${i}`, 'x'), { scheme: 'DPoP', token: 't' }, token)))
  t.same([...codes], ['AUTH_DPOP_PROOF_MALFORMED'])
  const proof = signer.proof({ htm: 'GET', htu: 'https://api.example.test/items/7', accessToken: 't' })
  t.equal(await codeOf(() => checker.check(request('/items/7?x=1', proof), { scheme: 'DPoP', token: 't' }, token)), 'accepted')
})

test('a request target no URL can hold matches no htu', async t => {
  const checker = binding('http://localhost:3010')
  // "http://localhost:3010*" is no URL: the expected htu is empty, and no normalised htu is empty.
  const proof = signer.proof({ htm: 'GET', htu: 'http://localhost:3010/', accessToken: 't' })
  t.equal(await codeOf(() => checker.check(request('*', proof), { scheme: 'DPoP', token: 't' }, token)), 'AUTH_DPOP_PROOF_URL')
})
