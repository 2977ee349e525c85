import { randomUUID } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createProofKey } from './dpop.js'

const WARMUP_POOL_SIZE = 1000

/**
 * Signs every token the benchmark sends, before any load starts (signing costs about 0.25 ms
 * each, far too slow to do inside the load generator). S3 gets a fresh pool per round: the
 * targets live through all rounds, so a pool sent twice would find round 1's tokens in a cache.
 * The pools are written to files the load generator reads, rather than sent over IPC. Every
 * token is the first issuer's but `secondIssuer`: S2's claims, signed by the second (S6).
 * `dpopBound` is S2's claims bound (`cnf.jkt`) to `proofKey`, a P-256 key made here: S7 sends it
 * with that key's proofs, which are signed per run (lib/dpop.js), not here, since they age.
 * `dir` is where pools are written.
 */
export function prepareTokens ([keyServer, secondIssuer], { poolSize, rounds, dir }) {
  const distinct = () => keyServer.sign({ sub: `bench-${randomUUID()}@clients`, jti: randomUUID() })
  const writePool = (name, size) => {
    const file = join(dir, `${name}.json`)
    writeFileSync(file, JSON.stringify(Array.from({ length: size }, distinct)))
    return file
  }
  const proofKey = createProofKey()
  return {
    reused: keyServer.sign({ scope: 'read:profile' }),
    secondIssuer: secondIssuer.sign({ scope: 'read:profile' }),
    scoped: keyServer.sign({ scope: 'read:messages' }),
    forged: keyServer.sign({ scope: 'read:messages' }, { forged: true }),
    dpopBound: keyServer.sign({ scope: 'read:profile', cnf: { jkt: proofKey.thumbprint } }),
    proofKey,
    dir,
    warmupPool: writePool('warmup', WARMUP_POOL_SIZE),
    roundPools: Array.from({ length: rounds }, (_, round) => writePool(`s3-round-${round + 1}`, poolSize))
  }
}
