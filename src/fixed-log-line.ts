import type { Bindings, Logger } from 'pino'
import { symbols } from 'pino'

/**
 * An info line whose fields and message never change, such as a rejection's code and status:
 * serialized once, then written per request with only the time and request id added.
 */
export class FixedLogLine {
  readonly fields: Readonly<Record<string, string | number>>
  readonly message: string
  /** The fields as pino writes them: `,"code":"X","statusCode":401`. */
  readonly serializedFields: string
  readonly serializedMessage: string

  constructor (fields: Record<string, string | number>, message: string) {
    this.fields = Object.freeze({ ...fields })
    this.message = message
    this.serializedFields = Object.entries(fields).map(([key, value]) => `,${JSON.stringify(key)}:${JSON.stringify(value)}`).join('')
    this.serializedMessage = JSON.stringify(message)
  }
}

/** The parts of a pino logger this writer reads; pino exports their symbols for integrations. */
interface PinoInternals {
  [symbols.streamSym]: { write: (line: string) => unknown, [symbols.needsMetadataGsym]?: boolean }
  [symbols.lsCacheSym]: Record<number, string>
  [symbols.timeSym]: () => string
  [symbols.chindingsSym]: string
  [symbols.endSym]: string
  [symbols.messageKeySym]: string
  [symbols.serializersSym]: Record<string, unknown>
  [symbols.stringifiersSym]: Record<string | symbol, unknown>
  [symbols.mixinSym]?: unknown
  [symbols.nestedKeySym]: string | null
  [symbols.formattersSym]: { log?: unknown }
  [symbols.hooksSym]: { logMethod?: unknown, streamWrite?: unknown }
}

/**
 * Writes FixedLogLines for one pino logger straight to its destination, byte for byte the line
 * `logger.child(bindings).info(fields, message)` would write, without making the child or
 * serializing the fields again.
 *
 * Why: every rejection is logged, and under a flood of forged tokens pino's general path (a child
 * logger per request, then each field serialized per line) was most of a line's cost. Measured
 * with bench/ab.js, writing the line this way took 3-7% off the CPU of each rejection.
 *
 * It writes only what it can promise is pino's line: when the logger has a setting that pino
 * would apply to the line (a mixin, hooks, a log formatter, a message prefix, a nested key,
 * redaction or a serializer on one of the line's keys, a destination that wants metadata),
 * write() returns false and the caller logs through pino. A test compares the two byte for byte.
 */
export class FixedLineWriter {
  readonly #logger: Logger & PinoInternals
  readonly #plain: boolean
  readonly #plainKeys = new Map<string, boolean>()
  // What pino fixes when it makes the logger: its destination, its info level's opening, the
  // message key and the line's end. Its bindings (setBindings), time and level are read per line.
  readonly #destination: PinoInternals[typeof symbols.streamSym]
  readonly #infoOpening: string
  readonly #messageKey: string
  readonly #end: string

  constructor (logger: Logger) {
    const internals = logger as Logger & PinoInternals
    this.#logger = internals
    this.#plain = plainLogger(internals)
    this.#destination = internals[symbols.streamSym]
    this.#infoOpening = internals[symbols.lsCacheSym][logger.levels.values.info]
    this.#messageKey = `,"${internals[symbols.messageKeySym]}":`
    this.#end = internals[symbols.endSym]
  }

  /** Writes the line at info, if info is enabled; false when pino must write it instead. */
  write (line: FixedLogLine, bindings: Bindings): boolean {
    if (!this.#plain) return false
    for (const key in line.fields) if (!this.#plainKey(key)) return false
    let bound = ''
    for (const key in bindings) {
      const value: unknown = bindings[key]
      if (typeof value !== 'string' || !this.#plainKey(key)) return false
      bound += `,"${key}":${JSON.stringify(value)}`
    }
    const logger = this.#logger
    if (!logger.isLevelEnabled('info')) return true
    this.#destination.write(this.#infoOpening + logger[symbols.timeSym]() + logger[symbols.chindingsSym] + bound +
      line.serializedFields + this.#messageKey + line.serializedMessage + this.#end)
    return true
  }

  /**
   * A key pino writes as it is: no serializer, no redaction, not a name pino treats specially.
   * Remembered per key: the logger's serializers and redaction are fixed when it is made.
   */
  #plainKey (key: string): boolean {
    let plain = this.#plainKeys.get(key)
    if (plain === undefined) {
      plain = this.#logger[symbols.serializersSym][key] === undefined && this.#logger[symbols.stringifiersSym][key] === undefined &&
        !PINO_RESERVED_KEYS.has(key) && /^\w+$/.test(key)
      this.#plainKeys.set(key, plain)
    }
    return plain
  }
}

/** Binding names pino leaves out of a child's line. */
const PINO_RESERVED_KEYS = new Set(['level', 'serializers', 'formatters', 'customLevels'])

function plainLogger (logger: Logger & PinoInternals): boolean {
  const messageKey = logger[symbols.messageKeySym]
  return logger[symbols.mixinSym] === undefined &&
    logger.msgPrefix === undefined &&
    logger[symbols.nestedKeySym] === null &&
    logger[symbols.formattersSym].log === undefined &&
    logger[symbols.hooksSym].logMethod === undefined &&
    logger[symbols.hooksSym].streamWrite === undefined &&
    logger[symbols.stringifiersSym][symbols.wildcardFirstSym] === undefined &&
    logger[symbols.serializersSym][messageKey] === undefined &&
    logger[symbols.stringifiersSym][messageKey] === undefined &&
    /^\w+$/.test(messageKey) &&
    logger[symbols.streamSym][symbols.needsMetadataGsym] !== true
}
