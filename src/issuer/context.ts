import type { IssuerConfig } from './config.js'
import type { KeyStore } from './keys.js'

/** What the issuer's routes share. */
export interface IssuerContext {
  readonly config: IssuerConfig
  readonly keys: KeyStore
  /** `http://localhost:<port>/`; a function because the port is known only once listening. */
  readonly issuerUrl: () => string
}
