import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALG,
  aifMqtt,
  coseKeyFromMap,
  coseKeyToMap,
  createCwt,
  decodeCbor,
  decodeCoseKey,
  decodeProvisioningBundle,
  encodeCbor,
  publicCoseKey,
  scopeToCbor,
  sealCoseKey,
  type CborMap,
  type CoseKey,
  type CwtClaims,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { authzServe, type AuthzServer, type AuthzStore } from '../authz/index.js';
import { BROKER_ERR, createBroker } from '../broker/index.js';
import { authzCommand, brokerCommand, brokerServe } from '../cli/index.js';
import { connect, ed25519, password, refusal } from './support/broker-fixture.js';
import { stop, waitForLine } from './support/processes.js';

// Finding 3 of issue 9: the broker trusts only its own audience. Everything here runs as an
// operator would: the README's commands through bin/keybound.js, the real service over HTTP, the
// broker on a real port. The attacker holds a device's provisioning bundle (a device it owns or
// took apart) and forges broker tokens with the keys in it.
const root = fileURLToPath(new URL('..', import.meta.url));
const ISSUER = 'http://127.0.0.1:8080'; // what the README provisions with
const MQTT_SCOPE = [['sensors/#', ['pub', 'sub']]] as const;
const cwd = mkdtempSync(join(tmpdir(), 'kb-broker-trust-'));
const dataDir = join(cwd, 'as-data');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real CLI as a child process. */
function keybound(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(root, 'bin/keybound.js'), ...args], { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/** The `npx keybound …` lines of the first sh block under `## <section>` in the README. */
function readmeCommands(section: string): string[] {
  const at = readme.indexOf(`\n## ${section}\n`);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at))![1]!;
  return block.split('\n').filter((l) => l.startsWith('npx keybound '));
}

/** argv of a README line as a shell would split it: optional `[--flag …]` parts left out, '…' quoting. */
function argv(line: string): string[] {
  const text = line.replace(/^npx keybound /, '').replace(/\s\[--[^\]]*\]/g, '');
  return [...text.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } } };
}

let service: AuthzServer;
let store: AuthzStore;
let asUrl: string;
let broker: ChildProcess;
let brokerUrl: string;
let serviceKey: CoseKey;

const bundleOf = (file: string) => decodeProvisioningBundle(new Uint8Array(readFileSync(join(cwd, file))));
const symmetric = (file: string, alg: number) => bundleOf(file).trustAnchors.find((k) => k.kty === 'Symmetric' && k.alg === alg)!;

/** A token from the real service (client_credentials): bound to `popKey`, or to a symmetric key it makes. */
async function serviceToken(popKey?: CoseKey): Promise<{ token: Uint8Array; key: CoseKey }> {
  const body = new Map<number, unknown>([
    [33, 2],
    [5, 'broker-1'],
    [9, MQTT_SCOPE],
  ]);
  if (popKey) body.set(4, new Map([[1, coseKeyToMap(publicCoseKey(popKey))]]));
  const res = await fetch(`${asUrl}/token`, { method: 'POST', headers: { 'content-type': 'application/ace+cbor', authorization: `Basic ${Buffer.from(`app:${readFileSync(join(cwd, 'app.secret'), 'utf8').trim()}`).toString('base64')}` }, body: encodeCbor(body as CborMap) });
  const answer = decodeCbor(new Uint8Array(await res.arrayBuffer())) as CborMap;
  if (res.status !== 200) throw new Error(`token endpoint: ${res.status} ${String(answer.get(30))}`);
  const cnf = answer.get(8) as CborMap | undefined;
  return { token: answer.get(1) as Uint8Array, key: popKey ?? coseKeyFromMap(cnf!.get(1)!) };
}

/** Broker-token claims as the service writes them; the caller signs or MACs them. */
function claims(cnf: CwtClaims['cnf']): CwtClaims {
  const now = Math.floor(Date.now() / 1000);
  return { iss: ISSUER, aud: 'broker-1', iat: now, exp: now + 600, cnf, scope: scopeToCbor(aifMqtt(MQTT_SCOPE.map(([f, a]) => [f, [...a]] as const))) };
}

const symmetricPopKey = (): CoseKey => ({ kty: 'Symmetric', k: nativeProvider.randomBytes(32), kid: nativeProvider.randomBytes(4) });

beforeAll(async () => {
  // The README's service, as written (secrets from files), then the README's broker lines.
  // The secret files do not exist: register-client writes a strong random secret into each.
  const lines = [...readmeCommands('The authorization service'), ...readmeCommands('The broker')];
  for (const line of lines.filter((l) => !/ serve /.test(l))) {
    const r = await keybound(argv(line));
    expect(r, line).toMatchObject({ code: 0 });
  }
  // A second device, registered for Mac0 tokens: its bundle holds the key that MACs its tokens
  // (the CLI function in this process: the README's lines above went through bin/keybound.js).
  for (const args of [
    ['authz', 'register-device', 'lamp-7', '--data-dir', dataDir, '--protection', 'mac0'],
    ['authz', 'provision', 'lamp-7', '--data-dir', dataDir, '--issuer', ISSUER, '--out', join(cwd, 'lamp-7.cbor')],
    ['authz', 'register-client', 'app', '--data-dir', dataDir, '--secret-file', join(cwd, 'app.secret'), '--audience', 'broker-1', '--scope', JSON.stringify(MQTT_SCOPE), '--grant-type', 'client_credentials'],
  ]) {
    const a = io();
    expect(await authzCommand(args.slice(1), a.io), `${args.join(' ')}: ${a.out.stderr}`).toBe(0);
  }
  ({ server: service, store, url: asUrl } = await authzServe({ dataDir, port: 0, issuer: ISSUER }));
  const keyFile = readdirSync(join(dataDir, 'keys')).find((f) => f.endsWith('.cose'))!;
  serviceKey = decodeCoseKey(new Uint8Array(readFileSync(join(dataDir, 'keys', keyFile))));

  const serve = argv(readmeCommands('The broker').find((l) => / broker serve /.test(l))!).map((a, i, all) => (all[i - 1] === '--port' ? '0' : a));
  broker = spawn(process.execPath, [join(root, 'bin/keybound.js'), ...serve], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  brokerUrl = (await waitForLine(broker, /listening on (mqtt:\/\/127\.0\.0\.1:\d+)/))[1]!;
}, 180_000);

afterAll(async () => {
  await stop(broker);
  await service?.close();
  store?.close();
});

describe('the README provisions the broker itself', () => {
  it('writes broker-1.cbor for the audience broker-1, and the broker started from it admits the service\'s tokens', async () => {
    expect(bundleOf('broker-1.cbor')).toMatchObject({ audience: 'broker-1', issuer: ISSUER });
    // Bound to the client's own key (req_cnf) and to a key the service made and sealed for the broker.
    for (const [i, issued] of [await serviceToken(ed25519('app-pop')), await serviceToken()].entries()) {
      expect(await refusal(connect(brokerUrl, `app-${i}`, password(issued.token, issued.key, `app-${i}`, 'broker-1')))).toBe(0);
    }
  });
});

describe("a device's bundle is refused as the broker's trust", () => {
  it('broker serve --trust tube-123.cbor (the README line of old) does not start: exit 1, bad_trust, says to provision the broker', async () => {
    const r = await keybound(['broker', 'serve', '--audience', 'broker-1', '--trust', 'tube-123.cbor', '--port', '0']);
    const a = io();
    a.out.stderr = '';
    const code = await brokerCommand(['serve', '--audience', 'broker-1', '--trust', join(cwd, 'lamp-7.cbor'), '--port', '0'], a.io);
    for (const [device, run] of [['tube-123', r], ['lamp-7', { code, ...a.out }]] as const) {
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toMatch(/\(bad_trust\)/);
      expect(run.stderr).toContain(`provisioned for "${device}", not for this broker's audience "broker-1"`);
      expect(run.stderr).toMatch(/authz provision broker-1 --out broker-1\.cbor/);
      expect(run.stdout).not.toMatch(/listening/);
    }
  }, 60_000);

  it('createBroker refuses it too, decoded or as bytes, and a key list carrying its shared keys', async () => {
    const lamp = bundleOf('lamp-7.cbor');
    for (const trust of [new Uint8Array(readFileSync(join(cwd, 'lamp-7.cbor'))), lamp, lamp.trustAnchors, [publicCoseKey(serviceKey), symmetric('lamp-7.cbor', ALG.HMAC_256_64)]]) {
      await expect(createBroker({ audience: 'broker-1', trust })).rejects.toMatchObject({ code: BROKER_ERR.BAD_TRUST });
    }
    // A private key in a key list is refused, not trimmed.
    await expect(createBroker({ audience: 'broker-1', trust: [serviceKey] })).rejects.toMatchObject({ code: BROKER_ERR.BAD_TRUST });
  });
});

describe('keys shared with another audience are never used by the broker', () => {
  it('refuses a token MACed with a device\'s key (CONNACK 4), while the same claims signed by the service are admitted', async () => {
    const key = ed25519('attacker');
    const body = claims({ coseKey: publicCoseKey(key) });
    const forged = createCwt(body, symmetric('lamp-7.cbor', ALG.HMAC_256_64), { provider: nativeProvider });
    expect(await refusal(connect(brokerUrl, 'forger', password(forged, key, 'forger', 'broker-1')))).toBe(4);
    const genuine = createCwt(body, serviceKey, { provider: nativeProvider });
    expect(await refusal(connect(brokerUrl, 'honest', password(genuine, key, 'honest', 'broker-1')))).toBe(0);
  });

  it('does not open a PoP key sealed for a device (CONNACK 4), and opens one sealed for itself', async () => {
    for (const [file, want] of [['tube-123.cbor', 4], ['lamp-7.cbor', 4], ['broker-1.cbor', 0]] as const) {
      const popKey = symmetricPopKey();
      const sealedFor = symmetric(file, ALG.AES_CCM_16_64_128);
      const token = createCwt(claims(sealCoseKey(popKey, sealedFor, { provider: nativeProvider })), serviceKey, { provider: nativeProvider });
      const id = `sealed-${file.split('.')[0]}`;
      expect(await refusal(connect(brokerUrl, id, password(token, popKey, id, 'broker-1'))), file).toBe(want);
    }
  });
});

describe("the service's /keys and /jwks.json as --trust", () => {
  async function fetched(path: string): Promise<Uint8Array> {
    return new Uint8Array(await (await fetch(`${asUrl}${path}`)).arrayBuffer());
  }

  it('serves with either file: signed tokens bound to the client\'s key are admitted, sealed ones cannot be opened', async () => {
    for (const [name, path] of [['keys.cbor', '/keys'], ['jwks.json', '/jwks.json']] as const) {
      writeFileSync(join(cwd, name), await fetched(path));
      const a = io();
      const b = await brokerServe(['--audience', 'broker-1', '--trust', join(cwd, name), '--port', '0'], a.io);
      try {
        const url = /listening on (mqtt:\/\/[\d.:]+)/.exec(a.out.stdout)![1]!;
        const own = await serviceToken(ed25519('app-pop'));
        expect(await refusal(connect(url, `own-${name}`, password(own.token, own.key, `own-${name}`, 'broker-1'))), name).toBe(0);
        // Public keys only: a PoP key the service sealed for the broker needs the broker's own bundle.
        const sealed = await serviceToken();
        expect(await refusal(connect(url, `sealed-${name}`, password(sealed.token, sealed.key, `sealed-${name}`, 'broker-1'))), name).toBe(4);
      } finally {
        await b.close();
      }
    }
  }, 30_000);

  it("takes the broker's own bundle in its JSON twin as well: sealed PoP keys open", async () => {
    const a = io();
    expect(await authzCommand(['provision', 'broker-1', '--data-dir', dataDir, '--issuer', ISSUER, '--out', join(cwd, 'broker-1.json')], a.io), a.out.stderr).toBe(0);
    const b = await brokerServe(['--audience', 'broker-1', '--trust', join(cwd, 'broker-1.json'), '--port', '0'], a.io);
    try {
      const url = /listening on (mqtt:\/\/[\d.:]+)/.exec(a.out.stdout)![1]!;
      const sealed = await serviceToken();
      expect(await refusal(connect(url, 'sealed-json', password(sealed.token, sealed.key, 'sealed-json', 'broker-1')))).toBe(0);
    } finally {
      await b.close();
    }
  });

  it('refuses a key file with a private or symmetric key (exit 1, bad_trust)', async () => {
    const jwks = JSON.parse(Buffer.from(await fetched('/jwks.json')).toString()) as { keys: Array<Record<string, unknown>> };
    const keys = (decodeCbor(await fetched('/keys')) as CborMap[]).map((m) => coseKeyFromMap(m));
    const secret = Buffer.from(nativeProvider.randomBytes(32)).toString('base64url');
    const bad: Array<[string, string | Uint8Array]> = [
      ['jwks-private.json', JSON.stringify({ keys: [{ ...jwks.keys[0], d: Buffer.from(serviceKey.d!).toString('base64url') }] })],
      ['jwks-oct.json', JSON.stringify({ keys: [...jwks.keys, { kty: 'oct', k: secret, kid: 'c2hhcmVk' }] })],
      ['keys-private.cbor', encodeCbor([coseKeyToMap(serviceKey)])],
      ['keys-symmetric.cbor', encodeCbor([...keys.map(coseKeyToMap), coseKeyToMap(symmetric('lamp-7.cbor', ALG.HMAC_256_64))])],
      ['keys-empty.cbor', encodeCbor([])],
      ['jwks-garbage.json', '{"keys": 7}'],
      ['not-utf8.json', new Uint8Array([0x7b, 0xff, 0xfe])],
    ];
    for (const [name, content] of bad) {
      writeFileSync(join(cwd, name), content);
      const a = io();
      expect(await brokerCommand(['serve', '--audience', 'broker-1', '--trust', join(cwd, name), '--port', '0'], a.io), name).toBe(1);
      expect(a.out.stderr, name).toMatch(/\(bad_trust\)/);
      expect(a.out.stderr, name).not.toContain(secret);
      expect(a.out.stdout, name).toBe('');
    }
  });
});

describe('authz provision --out writes the bundle with mode 0600', () => {
  it('even over an existing file that was 0644 (CBOR and JSON)', async () => {
    for (const out of ['old.cbor', 'old.json']) {
      const path = join(cwd, out);
      writeFileSync(path, 'stale', { mode: 0o644 });
      chmodSync(path, 0o644);
      const args = ['authz', 'provision', 'broker-1', '--data-dir', dataDir, '--issuer', ISSUER, '--out', path];
      // The process once, the CLI function once (it is the same code).
      const a = io();
      const r = out === 'old.cbor' ? await keybound(args) : { code: await authzCommand(args.slice(1), a.io), stderr: a.out.stderr };
      expect(r.code, r.stderr).toBe(0);
      expect(statSync(path).mode & 0o777, out).toBe(0o600);
      expect(readFileSync(path).toString()).not.toBe('stale');
    }
    expect(bundleOf('old.cbor').audience).toBe('broker-1');
    // No temporary file left beside it.
    expect(readdirSync(cwd).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 60_000);
});
