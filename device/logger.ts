/**
 * The logger the runtimes are given: pino's `(fields, message)` shape, so a Node host passes a
 * pino instance as is (device/adapters/node-logger.ts), and a device passes whatever its firmware
 * has (a UART line, a ring buffer) or nothing (the no-op default). The lean core never imports a
 * logging library nor touches a console: like its clock and its crypto, logging is injected.
 *
 * Fields are names and short values an operator filters on (event, client id, audience, reason
 * code, a token hash prefix): never a token, a proof, a key, a secret or a password.
 */
export type LogValue = string | number | boolean | undefined;
export type LogFields = Readonly<Record<string, LogValue>>;

export interface Logger {
  info(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
  error(fields: LogFields, message: string): void;
}

const nothing = (): void => {};

/** The default: a device with nowhere to write loses nothing by not logging. */
export const NOOP_LOGGER: Logger = Object.freeze({ info: nothing, warn: nothing, error: nothing });

/**
 * How many hex digits of a token's (or a cti's, or a proof jti's) hash a log line carries: enough
 * to match lines to a revocation list entry or to each other (2^32 values), far too few to be a
 * handle on anything (the hash is not a credential anyway, RFC 9200 §5.10.1 lets anyone hold it).
 */
export const HASH_PREFIX_HEX = 8;

/** The first HASH_PREFIX_HEX hex digits of a hash given in hex. */
export function hashPrefix(hashHex: string): string {
  return hashHex.slice(0, HASH_PREFIX_HEX);
}

/** Attacker-chosen text (client ids, topics, subjects) is cut to this many characters in a log field. */
export const MAX_LOG_TEXT = 64;

export function logText(text: string | undefined): string | undefined {
  return text === undefined ? undefined : text.slice(0, MAX_LOG_TEXT);
}
