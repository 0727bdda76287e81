/**
 * A schema migration that could not take the table locks it needs: another connection (an
 * instance of the previous release, an operator's psql, a backup) kept a transaction open on a
 * table the migration changes through every try, or a try deadlocked with one. The store does not
 * open; the instance can be started again once that transaction ends. Nothing was changed: the
 * migration's transaction rolled back.
 */
export class StoreMigrationError extends Error {
  readonly code = 'ERR_AUTHZ_MIGRATION_LOCKED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreMigrationError';
  }
}
