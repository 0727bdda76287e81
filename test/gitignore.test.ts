/**
 * Secrets and key-bearing files never land in a commit by accident (issue 15): every file the
 * README's commands write or read as a key (client secrets, PoP and TLS keys, provisioning bundles,
 * the service's data directory with its signing keys, reports) is covered by .gitignore, as
 * `git check-ignore` sees it. The list is read from README.md itself, so a command added there
 * with a new file name fails here until .gitignore covers it.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** Flags whose value is a file (or directory) a command creates, or a key file it reads. */
const FILE_FLAGS = new Set(['--data-dir', '--secret-file', '--out', '--report', '--json', '--trust', '--key', '--pop-key', '--tls-key', '--tls-cert', '--authz-ca']);
/** Generic names: `--key-out`, `--token-file`... */
const isFileFlag = (flag: string): boolean => FILE_FLAGS.has(flag) || /^--[a-z-]+-(out|file)$/.test(flag);
/** Flags whose value is a directory: check a file inside it. */
const DIR_FLAGS = new Set(['--data-dir']);

/** The README's commands: lines of ```sh blocks and inline code spans that run keybound. */
function readmeCommands(text: string): string[] {
  const blocks = [...text.matchAll(/```(?:sh|bash|shell)\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n'));
  const spans = [...text.matchAll(/`([^`\n]*--[a-z][^`\n]*)`/g)].map((m) => m[1]!);
  return [...blocks, ...spans].map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l.length > 0);
}

/** Each file path a command names through a file flag or a shell redirection. */
function producedPaths(commands: string[]): Array<{ path: string; from: string }> {
  const out: Array<{ path: string; from: string }> = [];
  for (const cmd of commands) {
    const words = cmd.replace(/[[\]]/g, ' ').split(/\s+/).filter(Boolean);
    words.forEach((w, i) => {
      const next = words[i + 1];
      let values: string[] = [];
      if (next !== undefined && isFileFlag(w)) values = next.split('|');
      else if ((w === '>' || w === '>>' || w === 'tee') && next !== undefined) values = [next];
      else if (/^>>?[^>&]/.test(w)) values = [w.replace(/^>>?/, '')];
      for (const raw of values) {
        const v = raw.replace(/^['"]|['"]$/g, '').replace(/^\.\//, '');
        // Placeholders, URLs, shell expansions and stdin/stdout are not files in the tree.
        if (!v || /[<>$@:]/.test(v) || v === '-' || v.startsWith('/') || v.startsWith('--')) continue;
        out.push({ path: DIR_FLAGS.has(w) ? `${v.replace(/\/$/, '')}/state.sqlite` : v, from: cmd });
      }
    });
  }
  return out;
}

const ignored = (path: string): boolean => spawnSync('git', ['check-ignore', '-q', '--no-index', path], { cwd: ROOT }).status === 0;

describe('.gitignore covers what the README commands create', () => {
  const produced = producedPaths(readmeCommands(readme));

  it('finds the secret, key, bundle and data files the README names', () => {
    const paths = produced.map((p) => p.path);
    // The README's service and broker sections as of issue 15; more may come, none may go unchecked.
    for (const p of ['ekg.secret', 'rs.secret', 'tube-123.cbor', 'broker-1.cbor', 'as-data/state.sqlite', 'key.pem', 'fleet.html']) expect(paths).toContain(p);
  });

  const unique = [...new Map(produced.map((p) => [p.path, p.from])).entries()];
  it.each(unique)('%s is ignored (from: %s)', (path) => {
    expect(ignored(path), `${path} is not covered by .gitignore`).toBe(true);
  });

  it('the parser sees flags, alternatives and redirections, and skips placeholders', () => {
    const found = producedPaths(readmeCommands('```sh\nkeybound keygen --alg EdDSA --out pop.key.json\nkeybound token --key-out ./k.jwk.json > token.txt\nkeybound inspect <hex> [--key a.cbor|b.jwk.json] --trust @file\n```\n')).map((p) => p.path);
    expect(found).toEqual(['pop.key.json', 'k.jwk.json', 'token.txt', 'a.cbor', 'b.jwk.json']);
  });

  it('would catch an uncovered file (the check can fail)', () => {
    expect(ignored('README-notes.txt')).toBe(false);
    expect(ignored('cose/cwt.ts')).toBe(false);
  });

  it('hides no tracked file of the project', () => {
    const hidden = execFileSync('git', ['ls-files', '--cached', '--ignored', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).trim();
    expect(hidden).toBe('');
  });
});
