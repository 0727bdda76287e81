/**
 * The options every `keybound authz` command shares: where the service's state lives, and
 * `--init`, without which a data directory that does not exist is an error rather than a new
 * service with new keys (a typo in --data-dir must not fork the service).
 */
import type { OptionSpec } from './command-line.js';

export const DATA_DIR_OPTIONS = {
  'data-dir': { type: 'string', value: 'DIR', required: true, env: 'KEYBOUND_DATA_DIR', help: 'the service state directory: SQLite store and signing keys' },
  init: { type: 'boolean', help: 'create --data-dir (a new service, new keys) if it does not exist; without it a missing directory is an error' },
} as const satisfies Record<string, OptionSpec>;

/** The authz functions' DataDirOptions from parsed values. */
export function dataDirOf(values: { 'data-dir'?: string; init?: boolean }): { dataDir: string; init: boolean } {
  return { dataDir: values['data-dir']!, init: values.init === true };
}
