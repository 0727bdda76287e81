/**
 * Review (rev2), `keybound authz register-client --secret-file` pointed at a link (issue 15: the
 * command writes a new secret when the file does not exist). Attacks: a symlink to another file
 * (another user's, or a config) and a dangling symlink to a file the attacker wants created. The
 * command must write through neither: an existing target is read (and a weak one refused), never
 * replaced; a dangling link is refused, its target not created. Real SQLite on disk.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../cli/index.js';

async function kb(...args: string[]) {
  const out = { stdout: '', stderr: '' };
  const code = await main(args, { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } });
  return { code, ...out };
}

describe('review: register-client --secret-file through a symlink', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kb-review-secret-link-'));
  const data = join(dir, 'as-data');
  const setup = kb('authz', 'register-device', 'tube-1', '--data-dir', data, '--init', '--scope', 'read_result');

  it('a link to an existing file: the file is not overwritten (a weak content is refused as a secret)', async () => {
    await setup;
    const victim = join(dir, 'victim.conf');
    writeFileSync(victim, 'listen 80\n', { mode: 0o644 });
    const link = join(dir, 'app.secret');
    symlinkSync(victim, link);
    const r = await kb('authz', 'register-client', 'app', '--data-dir', data, '--secret-file', link, '--audience', 'tube-1');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ERR_AUTHZ_WEAK_SECRET');
    expect(readFileSync(victim, 'utf8')).toBe('listen 80\n');
    expect(statSync(victim).mode & 0o777).toBe(0o644);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });

  it('a dangling link: refused, its target is not created', async () => {
    await setup;
    const target = join(dir, 'planted-by-attacker');
    const link = join(dir, 'app2.secret');
    symlinkSync(target, link);
    const r = await kb('authz', 'register-client', 'app2', '--data-dir', data, '--secret-file', link, '--audience', 'tube-1');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ERR_CLI_FILE_EXISTS');
    expect(existsSync(target)).toBe(false);
    const list = await kb('authz', 'list', '--data-dir', data, '--json');
    expect(JSON.parse(list.stdout).clients).toEqual([]);
  });
});
