/**
 * Class members of a dependency that the verify-only device bundle never calls, taken out of the
 * dependency's source as esbuild loads it (issue 13's 24 KB goal). A bundler drops a function no
 * one calls, never a method of a class someone uses: @noble/ed25519's Point brought scalar
 * multiplication (and through it the builder of its 4,224-point base table, wNAF), affine and hex
 * conversion, inversion and its validity and torsion checks, ~0.9 KB gzipped, while
 * device/compact-ed25519.ts calls only fromBytes, add, double, negate, equals, ZERO and BASE (its
 * multiplication is its own, and it signs nothing). @noble/hashes' SHA-2 classes bring clone(),
 * which only HMAC and HKDF call, and the verify-only bundle has neither (device/no-symmetric-pop.ts).
 *
 * Nothing is rewritten: a listed method is cut out whole (and a top-level constant only those
 * methods read, which the bundler keeps when it is built by a call), and the rest of the file is
 * the library's own text. Each entry names the package version it was checked against: the build fails
 * on another version, or if a listed member is not where it was, so that an upgrade is looked at
 * again rather than pruned blind. A pruned member called after all would throw a TypeError (not a
 * function), never compute something else: test/device-bundle-differential.test.ts holds the built
 * bundle's Ed25519 to the unbundled modules' on honest, corrupted and crafted signatures, and
 * test/quickjs-device.test.ts runs the built bundle through the device's scenarios.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface PrunedMembers {
  /** The file, as esbuild resolves it. */
  file: RegExp;
  /** The package it belongs to, and the version this list was checked against. */
  pkg: string;
  version: string;
  /** Class name -> the members (methods, getters, static methods) to cut out of it. */
  classes: Readonly<Record<string, readonly string[]>>;
  /**
   * Top-level constants only those members read, cut out too (a call such as Object.freeze keeps
   * one otherwise); the build fails if the file still names one once the cuts are made.
   */
  constants?: readonly string[];
}

export const VERIFY_ONLY_PRUNED: readonly PrunedMembers[] = [
  {
    file: /[\\/]@noble[\\/]ed25519[\\/]index\.js$/,
    pkg: '@noble/ed25519',
    version: '3.2.0',
    classes: {
      Point: ['CURVE', 'fromAffine', 'fromHex', 'x', 'y', 'assertValidity', 'is0', 'subtract', 'multiply', 'multiplyUnsafe', 'toAffine', 'toBytes', 'toHex', 'clearCofactor', 'isSmallOrder', 'isTorsionFree'],
    },
    // What Point.CURVE() returns (with the group order, which only multiply reads).
    constants: ['ed25519_CURVE'],
  },
  { file: /[\\/]@noble[\\/]hashes[\\/]_md\.js$/, pkg: '@noble/hashes', version: '2.4.0', classes: { HashMD: ['_cloneIntoMeta', 'clone'] } },
  { file: /[\\/]@noble[\\/]hashes[\\/]sha2\.js$/, pkg: '@noble/hashes', version: '2.4.0', classes: { SHA2_32B: ['_cloneInto'], SHA2_64B: ['_cloneInto'] } },
];

interface AstNode {
  type: string;
  start: number;
  end: number;
  [key: string]: unknown;
}

const isNode = (value: unknown): value is AstNode => typeof value === 'object' && value !== null && typeof (value as AstNode).type === 'string';

/** Every node under `root` (an explicit stack, not recursion: a library's AST can be deep). */
function* nodesOf(root: AstNode): Generator<AstNode> {
  const stack: AstNode[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    yield node;
    for (const value of Object.values(node)) {
      if (Array.isArray(value)) {
        for (const child of value) if (isNode(child)) stack.push(child);
      } else if (isNode(value)) stack.push(value);
    }
  }
}

function packageVersion(file: string, pkg: string): string | undefined {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (json.name === pkg) return json.version;
    } catch {
      // no package.json here (or not this package's): look further up
    }
  }
  return undefined;
}

/** `source` (the file at `path`) without the entry's members; throws if the file is not as checked. */
export async function pruneMembers(source: string, path: string, entry: PrunedMembers): Promise<string> {
  const version = packageVersion(path, entry.pkg);
  if (version !== entry.version) {
    throw new Error(`pruned-members: ${entry.pkg} is ${version ?? 'of unknown version'}, the list was checked against ${entry.version}: check firmware-sim/pruned-members.ts again`);
  }
  let acorn: typeof import('acorn');
  try {
    acorn = await import('acorn');
  } catch {
    throw new Error('a verify-only device bundle needs the dev dependency acorn (npm install --include=dev)');
  }
  const ast = acorn.parse(source, { ecmaVersion: 'latest', sourceType: 'module' }) as unknown as AstNode;
  const cuts: Array<[number, number]> = [];
  const found = new Set<string>();
  const constants = new Set(entry.constants ?? []);
  for (const statement of (ast['body'] as AstNode[])) {
    const declarators = statement.type === 'VariableDeclaration' ? (statement['declarations'] as AstNode[]) : [];
    const name = declarators.length === 1 ? ((declarators[0]!['id'] as AstNode)['name'] as string | undefined) : undefined;
    if (name !== undefined && constants.has(name)) {
      cuts.push([statement.start, statement.end]);
      found.add(name);
    }
  }
  for (const node of nodesOf(ast)) {
    if ((node.type === 'ClassDeclaration' || node.type === 'ClassExpression') && (node.id as AstNode | null)?.['name'] !== undefined) {
      const className = (node.id as AstNode)['name'] as string;
      const members = entry.classes[className];
      if (members) {
        for (const member of (node.body as AstNode)['body'] as AstNode[]) {
          const key = member['key'] as AstNode | undefined;
          if (member.type !== 'MethodDefinition' || member['computed'] || key?.type !== 'Identifier') continue;
          const name = key['name'] as string;
          if (!members.includes(name)) continue;
          cuts.push([member.start, member.end]);
          found.add(`${className}.${name}`);
        }
      }
    }
  }
  const missing = [...Object.entries(entry.classes).flatMap(([c, members]) => members.map((m) => `${c}.${m}`)), ...constants].filter((m) => !found.has(m));
  if (missing.length > 0) throw new Error(`pruned-members: ${path} has no ${missing.join(', ')}: check firmware-sim/pruned-members.ts again`);
  cuts.sort((a, b) => a[0] - b[0]);
  let out = '';
  let at = 0;
  for (const [start, end] of cuts) {
    out += source.slice(at, start);
    at = end;
  }
  out += source.slice(at);
  // A constant cut out must not be read by what is left (the parse also shows the rest still parses).
  const still = new Set<string>();
  for (const node of nodesOf(acorn.parse(out, { ecmaVersion: 'latest', sourceType: 'module' }) as unknown as AstNode)) {
    if (node.type === 'Identifier' && constants.has(node['name'] as string)) still.add(node['name'] as string);
  }
  if (still.size > 0) throw new Error(`pruned-members: ${path} still reads ${[...still].join(', ')}: check firmware-sim/pruned-members.ts again`);
  return out;
}
