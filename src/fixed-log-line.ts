import { tracingChannel } from 'node:diagnostics_channel'
import type { Bindings, Logger } from 'pino'
import { symbols, version as pinoVersion } from 'pino'

/**
 * The pino versions this writer's line was checked against (byte for byte, in its tests). Another
 * version logs through pino until the tests are run against it and this is widened: the writer
 * reads pino's internal parts, which a release may change.
 */
const CHECKED_PINO_VERSIONS = /^10\.4\./
/** pino traces each line it builds on this channel; a subscriber (an APM, say) must see them all. */
const PINO_LINE_CHANNEL = tracingChannel('pino_asJson')
/** Names pino writes as they are, so no escaping is left to a writer that concatenates them. */
const PLAIN_NAME = /^\w+$/

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
    // pino escapes lone surrogates in field strings differently from JSON.stringify: refuse them.
    for (const text of [message, ...Object.values(fields)]) {
      if (typeof text === 'string' && !text.isWellFormed()) throw new TypeError('a fixed log line\'s text must be well-formed Unicode')
    }
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
  [symbols.errorKeySym]: string
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
 * redaction or a serializer on one of the line's keys, a destination that wants metadata), when
 * something listens on pino's line tracing channel, or with a pino version its tests have not
 * checked, tryWrite() returns false and the caller logs through pino. A test compares the two
 * byte for byte. Not detected: code that patches pino's own functions when pino is loaded (as some
 * APM agents do without the channel); nor is pino's onChild called, as no child is made.
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

  /**
   * Writes the line at info if info is enabled, and says true: the line is handled. False when
   * pino must write it instead; nothing was written.
   */
  tryWrite (line: FixedLogLine, bindings: Bindings): boolean {
    if (!this.#plain || PINO_LINE_CHANNEL.hasSubscribers !== false) return false
    for (const key in line.fields) if (!this.#plainKey(key)) return false
    let bound = ''
    for (const key in bindings) {
      if (!Object.hasOwn(bindings, key)) continue // as pino: inherited bindings are not written
      const value: unknown = bindings[key]
      if (typeof value !== 'string' || PINO_RESERVED_BINDINGS.has(key) || !this.#plainKey(key)) return false
      bound += `,"${key}":${JSON.stringify(value)}`
    }
    const logger = this.#logger
    if (!logger.isLevelEnabled('info')) return true
    this.#destination.write(this.#infoOpening + logger[symbols.timeSym]() + logger[symbols.chindingsSym] + bound +
      line.serializedFields + this.#messageKey + line.serializedMessage + this.#end)
    return true
  }

  /**
   * A key pino writes as it is: no serializer (nor the error key's), no redaction, a plain name.
   * Remembered per key: the logger's serializers and redaction are fixed when it is made.
   */
  #plainKey (key: string): boolean {
    let plain = this.#plainKeys.get(key)
    if (plain === undefined) {
      const logger = this.#logger
      plain = logger[symbols.serializersSym][key] === undefined && logger[symbols.stringifiersSym][key] === undefined &&
        key !== logger[symbols.errorKeySym] && PLAIN_NAME.test(key)
      this.#plainKeys.set(key, plain)
    }
    return plain
  }
}

/** Binding names pino leaves out of a child's line. */
const PINO_RESERVED_BINDINGS = new Set(['level', 'serializers', 'formatters', 'customLevels'])

function plainLogger (logger: Logger & PinoInternals): boolean {
  const messageKey = logger[symbols.messageKeySym]
  return CHECKED_PINO_VERSIONS.test(pinoVersion) &&
    logger.levels.values.info !== undefined &&
    logger[symbols.mixinSym] === undefined &&
    logger.msgPrefix === undefined &&
    logger[symbols.nestedKeySym] === null &&
    logger[symbols.formattersSym].log === undefined &&
    logger[symbols.hooksSym].logMethod === undefined &&
    logger[symbols.hooksSym].streamWrite === undefined &&
    logger[symbols.stringifiersSym][symbols.wildcardFirstSym] === undefined &&
    logger[symbols.serializersSym][messageKey] === undefined &&
    logger[symbols.stringifiersSym][messageKey] === undefined &&
    PLAIN_NAME.test(messageKey) &&
    logger[symbols.streamSym][symbols.needsMetadataGsym] !== true
}
