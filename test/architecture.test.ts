/**
 * The design's dependency rules, held by a test rather than by memory (STYLE.md rule 14):
 * cose/ ← device/ ← broker/, cose/ ← device/ ← authz/ (PoP proofs), sender-constraint/ ← authz/ and gateway/
 * (DPoP, certificate binding); firmware-sim/ uses device/ and cose/; nothing imports
 * firmware-sim/ or test/; cose/ and device/ outside adapters/ import no node: module; other folders
 * reach a folder only through its index.ts (or adapters/index.ts). test/ and bench/ are held to the
 * same rule: they use each folder as a user does, so what they need is on the public surface.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FOLDERS = ['cose', 'device', 'sender-constraint', 'authz', 'broker', 'gateway', 'firmware-sim', 'cli'];
/** Folders that use the others and that nothing imports. */
const CONSUMERS = ['test', 'bench'];
/** Which folders each may import. */
const ALLOWED: Record<string, string[]> = {
  cose: [],
  device: ['cose'],
  broker: ['cose', 'device'],
  // authz verifies PoP proofs (a public client's at /revoke) with device/'s one implementation.
  // HTTP sender constraints (DPoP proofs and nonces, certificate thumbprints), shared by the
  // service that binds tokens and the gateway that enforces the binding (RFC 9449, RFC 8705).
  'sender-constraint': ['cose'],
  authz: ['cose', 'device', 'sender-constraint'],
  gateway: ['cose', 'device', 'sender-constraint'],
  'firmware-sim': ['cose', 'device', 'sender-constraint', 'authz', 'broker', 'gateway'],
  cli: ['cose', 'device', 'sender-constraint', 'authz', 'broker', 'gateway', 'firmware-sim'],
  test: FOLDERS,
  bench: FOLDERS,
};
/** npm packages the portable cores may carry onto a device (CBOR is our own: cose/cbor-*.ts). */
const PORTABLE_PACKAGES = /^(@noble\/(curves|hashes|ciphers)\/|@noble\/ed25519$|jose$)/;

function tsFiles(dir: string): string[] {
  let out: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(tsFiles(p));
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const specs = new Set<string>();
  for (const m of src.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g)) specs.add(m[1]!);
  for (const m of src.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) specs.add(m[1]!);
  for (const m of src.matchAll(/^import\s+['"]([^'"]+)['"]/gm)) specs.add(m[1]!);
  return [...specs];
}

const files = [...FOLDERS, ...CONSUMERS].flatMap((f) => tsFiles(join(ROOT, f)));

describe('architecture', () => {
  it('finds the source files it checks', () => {
    expect(files.some((f) => f.endsWith(join('cose', 'cwt.ts')))).toBe(true);
    expect(files.some((f) => f.endsWith(join('test', 'support', 'vectors.ts')))).toBe(true);
    expect(files.some((f) => f.endsWith(join('bench', 'cose.ts')))).toBe(true);
  });

  for (const file of files) {
    const rel = relative(ROOT, file);
    const folder = rel.split(sep)[0]!;
    const inAdapters = rel.split(sep).includes('adapters');
    it(`${rel} respects the dependency rules`, () => {
      for (const spec of importsOf(file)) {
        if (spec.startsWith('.')) {
          const target = relative(ROOT, resolve(dirname(file), spec)).split(sep).join('/');
          const targetFolder = target.split('/')[0]!;
          if (targetFolder === folder) continue;
          expect(ALLOWED[folder], `${rel} imports ${spec}`).toContain(targetFolder);
          // device/verify-only.ts is device/'s second public surface (package.json "./device/verify-only").
          expect([`${targetFolder}/index.js`, `${targetFolder}/adapters/index.js`, 'device/verify-only.js'], `${rel} must import ${targetFolder}/ through its index`).toContain(target);
          if (!inAdapters && (folder === 'cose' || folder === 'device')) {
            expect(target, `${rel}: the portable core must not reach adapters`).not.toMatch(/adapters/);
          }
        } else if ((folder === 'cose' || folder === 'device') && !inAdapters) {
          expect(spec, `${rel}: the portable core imports no node: module`).not.toMatch(/^node:|^(fs|path|os|crypto|net|http)$/);
          expect(spec, `${rel}: ${spec} is not a package a device carries`).toMatch(PORTABLE_PACKAGES);
        }
      }
    });
  }
});
