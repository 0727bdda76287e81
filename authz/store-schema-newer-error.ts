/**
 * A store whose schema a later release migrated, opened by an earlier one (a rollback): its
 * statements were not written for those tables, so the store does not open and nothing is read or
 * written. Run the release that migrated it, or restore the backup taken before the upgrade.
 */
export class StoreSchemaNewerError extends Error {
  readonly code = 'ERR_AUTHZ_SCHEMA_NEWER';
  constructor(readonly found: number, readonly known: number) {
    super(`database schema ${found} is newer than this keybound (${known}): run the release that migrated it, or restore the backup taken before the upgrade`);
    this.name = 'StoreSchemaNewerError';
  }
}
