/**
 * `--log-level` for the serving commands: the flag, else LOG_LEVEL from the environment, else
 * info. A level pino does not know is a usage error naming the ones it does.
 */
import { isLogLevel, LOG_LEVELS, type LogLevel } from '../device/adapters/index.js';

export const LOG_LEVEL_OPTION = { 'log-level': { type: 'string' } } as const;

export const LOG_LEVEL_HELP = `--log-level ${LOG_LEVELS.join('|')} (or LOG_LEVEL; default info): JSON lines on stderr`;

export function logLevelOf(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): LogLevel | { error: string } {
  const value = flag ?? env.LOG_LEVEL ?? 'info';
  if (isLogLevel(value)) return value;
  return { error: `${flag !== undefined ? '--log-level' : 'LOG_LEVEL'} must be one of ${LOG_LEVELS.join(', ')}` };
}
