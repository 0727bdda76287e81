/**
 * What the broker logs through: a structured logger (pino-shaped, device/logger.ts), or, for
 * embedders and tests that want plain lines, a function given each line's message. The message
 * stands on its own (it names the client and the reason); the fields repeat them for filtering.
 */
import { NOOP_LOGGER, type Logger } from '../device/index.js';

/** One line per event, its message only. */
export type BrokerLog = (line: string) => void;

export function brokerLogger(logger: Logger | BrokerLog | undefined): Logger {
  if (logger === undefined) return NOOP_LOGGER;
  if (typeof logger !== 'function') return logger;
  const line = (_fields: unknown, message: string): void => logger(message);
  return { info: line, warn: line, error: line };
}
