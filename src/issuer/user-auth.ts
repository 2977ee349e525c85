import type { IssuerConfig, UserConfig } from './config.js'
import { OAuthError } from './oauth-error.js'
import { UNMATCHABLE_HASH, verifySecret } from './secret-hash.js'

/** The resource owner of the password grant; an unknown user and a wrong password look the same. */
export async function authenticateUser (config: IssuerConfig, username: string | undefined, password: string | undefined): Promise<UserConfig> {
  if (username === undefined || password === undefined) {
    throw new OAuthError('invalid_request', 'the password grant needs username and password')
  }
  const user = config.users.get(username)
  const matches = await verifySecret(password, user?.passwordHash ?? UNMATCHABLE_HASH)
  if (user === undefined || !matches) throw new OAuthError('invalid_grant', 'wrong username or password')
  return user
}
