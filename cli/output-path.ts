/**
 * Whether a file a command will write at the end of its work can be written, asked before the
 * work starts: a 100k-device `keybound sim` is not wasted on a typo in --report (README
 * walkthrough, stop 35), nor on a directory named where a file belongs (it ran, then failed with
 * EISDIR).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';

/** Undefined when `path` can be written; else the errno code and what to do, for one line of usage error. */
export function outputPathProblem(path: string): string | undefined {
  // A name ending in "/" is a directory whether or not it exists (resolve() would drop the slash).
  if (path.endsWith('/') || path.endsWith(sep)) return 'EISDIR (a directory: name a file in it)';
  const file = resolve(path);
  try {
    accessSync(dirname(file), constants.W_OK);
  } catch (e) {
    return `${(e as NodeJS.ErrnoException).code ?? 'not writable'} (its directory must exist)`;
  }
  let isDirectory: boolean;
  try {
    isDirectory = statSync(file).isDirectory();
  } catch {
    return undefined; // not there yet: it will be created
  }
  if (isDirectory) return 'EISDIR (a directory: name a file in it)';
  try {
    accessSync(file, constants.W_OK);
  } catch (e) {
    return `${(e as NodeJS.ErrnoException).code ?? 'not writable'} (the file cannot be replaced)`;
  }
  return undefined;
}
