/**
 * `--log-level` for the serving commands: the flag, else LOG_LEVEL from the environment, else
 * info. A level pino does not know is a usage error naming the ones it does.
 */
import { isLogLevel, LOG_LEVELS, type LogLevel } from '../device/adapters/index.js';
import { UsageError } from './command-line.js';

export const LOG_LEVEL_OPTION = {
  'log-level': { type: 'string', value: 'LEVEL', env: 'LOG_LEVEL', default: 'info', help: `${LOG_LEVELS.join('|')}: JSON log lines on stderr at this level and above` },
} as const;

export function logLevelOf(value: string | undefined): LogLevel {
  const level = value ?? 'info';
  if (isLogLevel(level)) return level;
  throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')} (the flag or LOG_LEVEL)`);
}
