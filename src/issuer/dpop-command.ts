import { parseArgs } from 'node:util'
import type { CliIo } from './commands.js'
import { resolveSettings } from './config.js'
import { loadDpopKey, readLastDpopToken } from './dpop-key-file.js'

// The `dpop` command without the process (dpop-cli.ts runs it): the two headers of a call with a
// DPoP-bound token, for curl to read with `-H @-`.

export const DPOP_USAGE = [
  'usage: dpop METHOD URL [TOKEN | -] [--nonce NONCE]',
  '  Prints the two headers of a request with a DPoP-bound access token, one per line:',
  '    Authorization: DPoP <token>',
  '    DPoP: <a new proof for METHOD and URL, signed by the key `token --dpop` saved>',
  '  TOKEN is the access token; - reads it from stdin; without it, the last token `token --dpop` got.',
  '  --nonce: the DPoP-Nonce the API answered with, when it asks for one (error="use_dpop_nonce").',
  '  The key and the last token live in LOCAL_ISSUER_KEY_DIR (default .local-issuer/). A proof is good',
  '  for one request (and 5 minutes): run the command again for each call. For example:',
  '    TOKEN=$(npm run -s token -- --dpop --scope read:messages)',
  '    npm run -s dpop -- GET http://localhost:3010/api/private-scoped "$TOKEN" | curl -H @- http://localhost:3010/api/private-scoped'
].join('\n')

/** RFC 9110 section 9.1: a method is a token. */
const METHOD = /^[!#$%&'*+.^_`|~\w-]+$/
/** RFC 6750 section 2.1's b64token: nothing that could end the header line or start another. */
const ACCESS_TOKEN = /^[\w.~+/-]+=*$/
/** RFC 9449 section 8.1: 1*NQCHAR. */
const NONCE = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/** Prints the headers on stdout and returns the exit code; `stdin` is read only for the `-` token. */
export async function runDpopCommand (args: readonly string[], env: NodeJS.ProcessEnv, io: CliIo, stdin: () => Promise<string>): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: { nonce: { type: 'string' }, help: { type: 'boolean', short: 'h' } }
    })
    if (values.help === true) {
      io.out(DPOP_USAGE)
      return 0
    }
    const [method, url, tokenArgument, ...extra] = positionals
    if (method === undefined || url === undefined || extra.length > 0) {
      io.err(DPOP_USAGE)
      return 1
    }
    const keyDir = resolveSettings({ env }).keyDir
    const token = tokenArgument === undefined ? await readLastDpopToken(keyDir) : tokenArgument === '-' ? (await stdin()).trim() : tokenArgument
    const claims = { htm: checkMethod(method), htu: htu(url), accessToken: checkToken(token), nonce: checkNonce(values.nonce) }
    const proof = (await loadDpopKey(keyDir)).proof(claims)
    io.out(`Authorization: DPoP ${token}`)
    io.out(`DPoP: ${proof}`)
    return 0
  } catch (err) {
    io.err(`dpop: ${(err as Error).message}`)
    return 1
  }
}

/** Upper case, as curl sends the methods people type; case matters to htm. */
function checkMethod (method: string): string {
  if (!METHOD.test(method)) throw new Error(`"${method}" is not an HTTP method`)
  return method.toUpperCase()
}

/** htu: the URL without query and fragment (RFC 9449 section 4.2). */
function htu (url: string): string {
  const parsed = URL.canParse(url) ? new URL(url) : undefined
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) throw new Error(`"${url}" is not an http or https URL`)
  return `${parsed.origin}${parsed.pathname}`
}

/** The token goes into a header line: refuse anything that is not one (never echoing it). */
function checkToken (token: string): string {
  if (!ACCESS_TOKEN.test(token)) throw new Error('the access token is empty or not a token (letters, digits and -._~+/ only)')
  return token
}

function checkNonce (nonce: string | undefined): string | undefined {
  if (nonce !== undefined && !NONCE.test(nonce)) throw new Error('--nonce is not a DPoP nonce (printable ASCII without spaces, quotes or backslashes)')
  return nonce
}
