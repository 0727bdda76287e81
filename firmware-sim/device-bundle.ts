/**
 * Builds the device bundles that get flashed: the full runtime (device/index.ts) and the
 * verify-only one (device/verify-only.ts), with esbuild, minified, ESM, platform-neutral (no Node
 * shims, so a bundle that reaches for a host global fails on QuickJS rather than being patched up).
 * One home for the build options: `npm run build:device` runs this file, and the QuickJS engine,
 * its test and the bench build through `buildDeviceBundle`. The verify-only bundle is codes-only
 * (error-message-strip.ts; `-- --messages` keeps its text). esbuild, acorn and terser are dev
 * dependencies, loaded only when a bundle is built.
 */
import { gzipSync } from 'node:zlib';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripErrorMessages } from './error-message-strip.js';
import { pruneMembers, VERIFY_ONLY_PRUNED, type PrunedMembers } from './pruned-members.js';

export type DeviceBundleKind = 'full' | 'verify-only';
export const DEVICE_BUNDLE_KINDS: readonly DeviceBundleKind[] = ['full', 'verify-only'];

/** Issue 13's size goals, gzipped. */
export const BUNDLE_GZIP_BUDGET: Readonly<Record<DeviceBundleKind, number>> = { full: 64 * 1024, 'verify-only': 24 * 1024 };

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY: Record<DeviceBundleKind, string> = { full: 'device/index.ts', 'verify-only': 'device/verify-only.ts' };
/**
 * The verify-only bundle is Ed25519 PoP only: noble's NIST curves are replaced by an empty module,
 * noble-curves' Ed25519 by the smaller @noble/ed25519 (device/compact-ed25519.ts), HMAC, HKDF and
 * AES-CCM (symmetric PoP, sealed keys, encrypted tokens) by one that refuses.
 */
const NO_SYMMETRIC_POP = join(ROOT, 'device/no-symmetric-pop.ts');
const ALIAS: Record<DeviceBundleKind, Record<string, string>> = {
  full: {},
  'verify-only': {
    '@noble/curves/nist.js': join(ROOT, 'device/no-nist-curves.ts'),
    '@noble/curves/ed25519.js': join(ROOT, 'device/compact-ed25519.ts'),
    '@noble/hashes/hmac.js': NO_SYMMETRIC_POP,
    '@noble/hashes/hkdf.js': NO_SYMMETRIC_POP,
  },
};
/**
 * cose/'s own AES-CCM, COSE_Encrypt0, COSE_Mac0, Encrypted_COSE_Key, OSCORE input material
 * (symmetric PoP), the symmetric rows of its algorithm table and the provider's symmetric methods
 * are relative imports, which esbuild's alias does not reach: a resolve hook does; so is its hash
 * table, whose SHA-384 nothing there uses (device/verify-only-hashes.ts). (ECDSA low-S stays: a
 * host may hand the verify-only device a provider that verifies ES256, and then the token hash
 * must name both forms of a signature alike, or a revoked token's high-S twin gets through.)
 */
const REPLACED_SOURCES: Record<DeviceBundleKind, Array<{ filter: RegExp; path: string }>> = {
  full: [],
  'verify-only': [
    { filter: /[\\/](aes-ccm|encrypt0|mac0|oscore-input-material|sealed-cose-key|symmetric-algorithms|symmetric-methods)\.js$/, path: NO_SYMMETRIC_POP },
    { filter: /[\\/]hash-functions\.js$/, path: join(ROOT, 'device/verify-only-hashes.ts') },
  ],
};
/** Methods of a dependency's classes that the kind never calls, cut out as it loads (pruned-members.ts). */
const PRUNED: Record<DeviceBundleKind, readonly PrunedMembers[]> = { full: [], 'verify-only': VERIFY_ONLY_PRUNED };
export const BUNDLE_FILE: Record<DeviceBundleKind, string> = { full: 'device.min.js', 'verify-only': 'device-verify-only.min.js' };
/**
 * Whether a kind keeps its error message text by default. The verify-only bundle is codes-only
 * (error-message-strip.ts): its errors' messages are their codes. The full one keeps the text.
 */
export const BUNDLE_MESSAGES: Readonly<Record<DeviceBundleKind, boolean>> = { full: true, 'verify-only': false };

export interface DeviceBundle {
  kind: DeviceBundleKind;
  /** The minified ESM source. */
  code: string;
  bytes: number;
  gzipBytes: number;
  /** Every module the bundle draws on: a `node:` one here would be a bug. */
  inputs: string[];
  /** Whether its errors keep their message text (false: codes only). */
  messages: boolean;
}

/**
 * `source` builds that module text instead of the kind's entry, with the kind's replacements (the
 * bench measures a part of a bundle this way, e.g. the verify-only bundle's crypto alone).
 */
export async function buildDeviceBundle(kind: DeviceBundleKind, opts: { source?: string; messages?: boolean } = {}): Promise<DeviceBundle> {
  const messages = opts.messages ?? BUNDLE_MESSAGES[kind];
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new Error('building a device bundle needs the dev dependency esbuild (npm install --include=dev)');
  }
  const result = await esbuild.build({
    ...(opts.source !== undefined ? { stdin: { contents: opts.source, resolveDir: ROOT, loader: 'ts' as const, sourcefile: `${kind}-part.ts` } } : { entryPoints: [join(ROOT, ENTRY[kind])] }),
    bundle: true,
    // Codes-only: bundled, tree-shaken and compacted with names kept first (so that error
    // classes are still known by name), the message text taken out of that, then the names
    // minified too (below).
    minifyWhitespace: true,
    minifySyntax: true,
    minifyIdentifiers: messages,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    alias: ALIAS[kind],
    plugins: [
      {
        name: 'replaced-sources',
        setup(b) {
          for (const { filter, path } of REPLACED_SOURCES[kind]) b.onResolve({ filter }, () => ({ path }));
        },
      },
      {
        name: 'pruned-members',
        setup(b) {
          for (const entry of PRUNED[kind]) b.onLoad({ filter: entry.file }, async ({ path }) => ({ contents: await pruneMembers(readFileSync(path, 'utf8'), path, entry), loader: 'js' }));
        },
      },
    ],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  let code = result.outputFiles[0]!.text;
  if (!messages) code = (await esbuild.transform((await stripErrorMessages(code)).code, { minify: true, treeShaking: true, format: 'esm', platform: 'neutral' })).code;
  code = await compress(code);
  const bytes = new TextEncoder().encode(code);
  // What made it into the output (tree-shaken modules stay in metafile.inputs with 0 bytes).
  const used = Object.values(result.metafile.outputs)[0]!.inputs;
  return {
    kind,
    code,
    bytes: bytes.length,
    gzipBytes: gzipSync(bytes, { level: 9 }).length,
    inputs: Object.entries(used).filter(([, v]) => v.bytesInOutput > 0).map(([k]) => k),
    messages,
  };
}

/**
 * The last pass: terser's compressor over esbuild's minified output. esbuild minifies each
 * statement where it stands; terser also folds constants, inlines what is used once and drops
 * what that leaves unused across the whole bundle: 7.2% off the verify-only bundle gzipped and
 * 6.1% off the full one (measured on 2026-12-04: 28.7 -> 26.7 KB and 62.0 -> 58.2 KB), and ~24 KB
 * less QuickJS heap once loaded. Its safe defaults but one, over two passes (a third gains nothing): `reduce_funcs:
 * false`, because inlining functions used once as function expressions cost QuickJS ~25-50 KB more
 * heap (function objects) for 80-180 bytes gzipped (measured with bundleCodeStats and
 * measureModuleHeap, firmware-sim/quickjs-engine.ts). `module`: the bundle is an ES module, so
 * its top-level names are its own. License comments stay. test/device-bundle-differential.test.ts
 * holds each built bundle to the modules it is built from.
 */
async function compress(code: string): Promise<string> {
  let terser: typeof import('terser');
  try {
    terser = await import('terser');
  } catch {
    throw new Error('building a device bundle needs the dev dependency terser (npm install --include=dev)');
  }
  const out = await terser.minify(code, { module: true, ecma: 2020, compress: { passes: 2, reduce_funcs: false }, mangle: true, format: { comments: 'some' } });
  if (out.code === undefined) throw new Error('terser produced no output for the device bundle');
  return out.code;
}

/** Writes both bundles to `outDir` (dist/ by default); returns them. `messages: true` keeps every bundle's error text. */
export async function writeDeviceBundles(outDir = join(ROOT, 'dist'), opts: { messages?: boolean } = {}): Promise<DeviceBundle[]> {
  mkdirSync(outDir, { recursive: true });
  const bundles: DeviceBundle[] = [];
  for (const kind of DEVICE_BUNDLE_KINDS) {
    const b = await buildDeviceBundle(kind, opts.messages ? { messages: true } : {});
    writeFileSync(join(outDir, BUNDLE_FILE[kind]), b.code);
    bundles.push(b);
  }
  return bundles;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--messages');
  if (unknown.length > 0) {
    console.error(`unknown option ${unknown[0]}; usage: npm run build:device [-- --messages]  (--messages: keep error message text in the verify-only bundle too, a development build)`);
    process.exit(2);
  }
  for (const b of await writeDeviceBundles(undefined, { messages: args.includes('--messages') })) {
    const text = b.messages ? 'error messages kept' : 'codes only: error messages are their codes';
    console.log(`dist/${BUNDLE_FILE[b.kind]}: ${(b.bytes / 1024).toFixed(1)} KB minified, ${(b.gzipBytes / 1024).toFixed(1)} KB gzipped (goal <= ${BUNDLE_GZIP_BUDGET[b.kind] / 1024} KB; ${text})`);
  }
}
