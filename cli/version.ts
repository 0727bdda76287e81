/** The version printed by `--version`: package.json's, read beside cli/ in a checkout or dist/cli/ when installed. */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached) return cached;
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'keybound' && typeof pkg.version === 'string') return (cached = pkg.version);
    } catch {
      // Not at this level; try the next.
    }
  }
  return 'unknown';
}
