/**
 * The package as a TypeScript user gets it (issue 15): `npm pack`, then a fresh project elsewhere
 * installs the tarball and type-checks a file that imports every subpath of `exports` with our own
 * tsc, strict and with `skipLibCheck: false`, so the shipped .d.ts files are checked too. A second
 * file makes one wrong call per subpath and must fail with the expected TS error on each line:
 * declarations that were `any` (or missing, TS7016) would let those lines pass. The installed
 * `keybound` bin runs from dist/ with no tsx in the project.
 *
 * The tarball's dependencies come from npm's cache (`--prefer-offline`; the registry only for a
 * miss) with `--ignore-scripts`: compiling better-sqlite3 takes ~100 s here and no check below
 * opens a database (better-sqlite3 loads its addon on first `new Database`, not on import).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
  exports: Record<string, { types: string; default: string }>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const subpaths = Object.keys(pkg.exports).map((s) => `${pkg.name}${s.slice(1)}`);

/** One real use per subpath: values whose types come from our declarations. */
const USES: Record<string, { imports: string; use: string; wrong: string; error: string }> = {
  'keybound/cose': {
    imports: "import { createCwt, verifyCwt, portableProvider, publicCoseKey, utf8, type CoseKey, type CoseError } from 'keybound/cose';",
    use: `const kp = portableProvider.generateKeyPair('Ed25519');
const asKey: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: kp.x, d: kp.d, kid: utf8('as-1') };
const token: Uint8Array = createCwt({ iss: 'https://as.example', aud: 'tube-123', exp: 1 }, asKey);
const verified = verifyCwt(token, publicCoseKey(asKey), { audience: 'tube-123', clock: () => 0 });
const issuer: string | undefined = verified.claims.iss;
const code: string = ({} as CoseError).code;`,
    // verifyCwt's options demand a clock (strict by default): omitting it is a type error.
    wrong: "verifyCwt(new Uint8Array(1), publicCoseKey({} as CoseKey), { audience: 'x' });",
    error: 'TS2741',
  },
  'keybound/cose/adapters': {
    imports: "import { nativeProvider } from 'keybound/cose/adapters';",
    use: "const nativePair = nativeProvider.generateKeyPair('P-256');\nconst nativeX: Uint8Array = nativePair.x;",
    wrong: "nativeProvider.generateKeyPair('RSA');",
    error: 'TS2345',
  },
  'keybound/device': {
    imports: "import { memoryStorage, createResourceServer } from 'keybound/device';",
    use: 'const storage = memoryStorage();\nconst keys: string[] = storage.keys();\nconst makeServer: typeof createResourceServer = createResourceServer;',
    wrong: 'memoryStorage().keys().push(42);',
    error: 'TS2345',
  },
  'keybound/device/verify-only': {
    imports: "import { createVerifyOnlyServer, memoryStorage as verifyOnlyStorage } from 'keybound/device/verify-only';",
    use: 'const makeVerifier: typeof createVerifyOnlyServer = createVerifyOnlyServer;\nconst held: string[] = verifyOnlyStorage().keys();',
    // A verify-only server needs its crypto provider named (no default pulls in every algorithm).
    wrong: 'createVerifyOnlyServer({} as Omit<Parameters<typeof createVerifyOnlyServer>[0], "provider">);',
    error: 'TS2345',
  },
  'keybound/device/adapters': {
    imports: "import { fileStorage } from 'keybound/device/adapters';",
    use: "const onDisk = fileStorage('/tmp/x');",
    wrong: 'fileStorage(42);',
    error: 'TS2345',
  },
  'keybound/authz': {
    imports: "import { SqliteStore } from 'keybound/authz';",
    use: "const openStore = (path: string): SqliteStore => new SqliteStore(path, { synchronous: 'FULL' });",
    wrong: "new SqliteStore('x', { synchronous: 'SOMETIMES' });",
    error: 'TS2322',
  },
  'keybound/broker': {
    imports: "import { createBroker, type KeyboundBroker } from 'keybound/broker';",
    use: 'const startBroker: (o: Parameters<typeof createBroker>[0]) => Promise<KeyboundBroker> = createBroker;',
    wrong: "createBroker('broker-1');",
    error: 'TS2345',
  },
  'keybound/sender-constraint': {
    imports: "import { verifyDpopProof, type DpopProof } from 'keybound/sender-constraint';",
    use: 'const checkProof: (jwt: string, c: Parameters<typeof verifyDpopProof>[1]) => Promise<DpopProof> = verifyDpopProof;',
    // A proof is checked for one request: method, URL and time are required.
    wrong: "verifyDpopProof('x', { method: 'GET' });",
    error: 'TS2739',
  },
  'keybound/gateway': {
    imports: "import { createGateway, type Gateway } from 'keybound/gateway';",
    use: 'const makeGateway: (o: Parameters<typeof createGateway>[0]) => Gateway = createGateway;',
    wrong: "createGateway('gateway-1');",
    error: 'TS2345',
  },
  'keybound/firmware-sim': {
    imports: "import { runFleet, type SimReport } from 'keybound/firmware-sim';",
    use: "const fleet: () => Promise<SimReport> = () => runFleet({ scenario: 'theft', devices: 2, seed: 1 });",
    wrong: "runFleet({ scenario: 'nope', devices: 2, seed: 1 });",
    error: 'TS2322',
  },
};

let dir = '';
let app = '';
let tarball = '';
let packed: string[] = [];

async function tsc(project: string): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, [TSC, '-p', project], { cwd: app });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, out: err.stdout + err.stderr };
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keybound-pack-'));
  // `npm pack` runs `prepare` (the build) first, as `npm publish` would.
  const p = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, maxBuffer: 16 << 20 });
  const info = JSON.parse(p.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(dir, info[0]!.filename);
  packed = info[0]!.files.map((f) => f.path);
  app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', version: '1.0.0', private: true, type: 'module' }));
  // @types/node at our own pinned version: authz/ and broker/ declarations name node:http types.
  await run('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball, `@types/node@${pkg.devDependencies['@types/node']}`], {
    cwd: app,
    maxBuffer: 16 << 20,
  });
  const tsconfig = (include: string) => ({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
    files: [include],
  });
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(tsconfig('use.ts')));
  writeFileSync(join(app, 'tsconfig.wrong.json'), JSON.stringify(tsconfig('wrong.ts')));
  const uses = Object.values(USES);
  writeFileSync(join(app, 'use.ts'), [...uses.map((u) => u.imports), ...uses.map((u) => u.use), 'export {};', ''].join('\n'));
  writeFileSync(join(app, 'wrong.ts'), [...uses.map((u) => u.imports), ...uses.map((u) => u.wrong), 'export {};', ''].join('\n'));
}, 180_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('npm pack: what the tarball holds', () => {
  it('has a .d.ts beside the JS for every exports subpath, with a types condition', () => {
    for (const [sub, target] of Object.entries(pkg.exports)) {
      expect(target.types, sub).toMatch(/^\.\/dist\/.*\.d\.ts$/);
      expect(packed, sub).toContain(target.types.slice(2));
      expect(packed, sub).toContain(target.default.slice(2));
      expect(target.types.replace(/\.d\.ts$/, '.js'), sub).toBe(target.default);
    }
  });
  it('ships the bin and the built CLI, but no TypeScript source', () => {
    for (const bin of Object.values(pkg.bin)) expect(packed).toContain(bin);
    expect(packed).toContain('dist/cli/main.js');
    expect(packed.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });
  it('every subpath of exports has a use in this test', () => {
    expect(Object.keys(USES).sort()).toEqual([...subpaths].sort());
  });
});

describe('a fresh TypeScript project that installs the tarball', () => {
  it('type-checks a file importing every subpath (strict, skipLibCheck off)', async () => {
    const r = await tsc('tsconfig.json');
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  }, 60_000);

  it('fails a wrong call on every subpath with the expected error: the types are real, not any', async () => {
    const r = await tsc('tsconfig.wrong.json');
    expect(r.code).not.toBe(0);
    const importLines = Object.keys(USES).length;
    Object.entries(USES).forEach(([sub, u], i) => {
      const line = importLines + i + 1;
      expect(r.out, `${sub}: ${u.wrong}`).toMatch(new RegExp(`wrong\\.ts\\(${line},\\d+\\): error ${u.error}:`));
    });
    // Nothing else failed: no missing declaration (TS7016) or unresolved subpath (TS2307).
    expect(r.out).not.toMatch(/TS7016|TS2307/);
    expect(r.out.match(/error TS/g)?.length).toBe(Object.keys(USES).length);
  }, 60_000);

  it('imports every subpath at run time from plain Node', async () => {
    const code = subpaths.map((s, i) => `const m${i} = await import(${JSON.stringify(s)}); if (Object.keys(m${i}).length === 0) throw new Error(${JSON.stringify(s)});`).join('\n');
    const r = await run(process.execPath, ['--input-type=module', '-e', `${code}\nconsole.log('ok ${subpaths.length}')`], { cwd: app });
    expect(r.stdout.trim()).toBe(`ok ${subpaths.length}`);
  }, 60_000);

  it('runs `npx keybound --version`, `--help` and a command from dist/, with no tsx installed', async () => {
    expect(existsSync(join(app, 'node_modules', 'tsx'))).toBe(false);
    expect(Object.keys(pkg.dependencies)).not.toContain('tsx');
    expect(existsSync(join(app, 'node_modules', 'keybound', 'cli'))).toBe(false);
    // The installed copy finds its own package.json from dist/cli/ (cli/version.ts).
    const version = await run('npx', ['--no-install', 'keybound', '--version'], { cwd: app });
    expect(version.stdout).toContain(pkg.version);
    const help = await run('npx', ['--no-install', 'keybound', '--help'], { cwd: app });
    expect(help.stdout).toMatch(/keybound/);
    expect(help.stdout).toContain('inspect');
    // A command that does real work from the built code: make and dissect a PoP token.
    const sample = await run('npx', ['--no-install', 'keybound', 'inspect', '--sample'], { cwd: app });
    expect(sample.stdout).toMatch(/cnf/);
  }, 60_000);
});
