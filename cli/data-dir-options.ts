/**
 * The options every `keybound authz` command shares: where the service's state lives, and
 * `--init`, without which a data directory that does not exist is an error rather than a new
 * service with new keys (a typo in --data-dir must not fork the service).
 */
import { UsageError, type OptionSpec } from './command-line.js';

/** Several instances behind one address share one PostgreSQL database instead (issue 14). */
export const DATABASE_OPTIONS = {
  database: { type: 'string', value: 'postgres://...', env: 'KEYBOUND_DATABASE', help: 'PostgreSQL URL: the shared store of several service instances, instead of --data-dir' },
  'kek-file': { type: 'string', value: 'FILE', env: 'KEYBOUND_KEK_FILE', help: 'with --database: 32-byte key (raw or hex) sealing the signing keys; same file on every instance' },
} as const satisfies Record<string, OptionSpec>;

export const DATA_DIR_OPTIONS = {
  'data-dir': { type: 'string', value: 'DIR', env: 'KEYBOUND_DATA_DIR', help: 'the service state directory: SQLite store and signing keys (or --database)' },
  ...DATABASE_OPTIONS,
  init: { type: 'boolean', help: 'create --data-dir (a new service, new keys) if it does not exist; without it a missing directory is an error' },
} as const satisfies Record<string, OptionSpec>;

/**
 * For the commands that only read or remove what a service holds (list, provision, delete): on a
 * directory that does not exist they have nothing to work on, and with --init a typo would make a
 * new service, whose fresh keys a provisioned bundle would then trust.
 */
export const EXISTING_DATA_DIR_OPTIONS = {
  'data-dir': DATA_DIR_OPTIONS['data-dir'],
  ...DATABASE_OPTIONS,
} as const satisfies Record<string, OptionSpec>;

/** The authz functions' DataDirOptions from parsed values. */
export function dataDirOf(values: { 'data-dir'?: string; init?: boolean; database?: string; 'kek-file'?: string }): { dataDir?: string; database?: string; kekFile?: string; init: boolean } {
  if (values['data-dir'] === undefined && values.database === undefined) throw new UsageError('--data-dir is required (or set KEYBOUND_DATA_DIR), or --database for PostgreSQL');
  if (values['data-dir'] !== undefined && values.database !== undefined) throw new UsageError('--data-dir and --database name two different services: give one');
  if (values['kek-file'] !== undefined && values.database === undefined) throw new UsageError('--kek-file goes with --database (SQLite keeps its keys as files in --data-dir)');
  return {
    ...(values['data-dir'] !== undefined ? { dataDir: values['data-dir'] } : {}),
    ...(values.database !== undefined ? { database: values.database } : {}),
    ...(values['kek-file'] !== undefined ? { kekFile: values['kek-file'] } : {}),
    init: values.init === true,
  };
}
