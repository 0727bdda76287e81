/** A command line the user must fix: printed as one line with a pointer to --help, exit 2. */
export class UsageError extends Error {
  readonly code = 'usage';
}
