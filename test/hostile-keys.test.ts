/**
 * Finding 10, keys checked at the door: the service issued tokens for the Ed25519 identity point
 * and for a P-256 point off the curve, and the broker (native provider) then admitted the proof
 * R = identity, S = 0 under such a key. Every hostile key is refused wherever a COSE_Key or JWK
 * enters, and both crypto providers refuse the same keys and signatures, with the same code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 as nobleEd25519, ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js';
import { ed448 as nobleEd448, ED448_TORSION_SUBGROUP } from '@noble/curves/ed448.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { shake256 } from '@noble/hashes/sha3.js';
import {
  buildSign1,
  cnfFromMap,
  concatBytes,
  coseKeyToJwk,
  decodeCoseKey,
  encodeCbor,
  extendedPortableProvider,
  fromHex,
  jwkToCoseKey,
  portableProvider,
  publicCoseKey,
  scopeToCbor,
  aifMqtt,
  Tag,
  toBase64Url,
  utf8,
  validateCoseKey,
  verifyCwt,
  verifySign1,
  type CborMap,
  type CborValue,
  type CoseKey,
  type CryptoProvider,
  type Curve,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { verifyOnlyProvider } from '../device/verify-only.js';
import { createBroker, createConnectPassword, type KeyboundBroker } from '../broker/index.js';
import { createAuthzServer, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { errorCode } from './support/error-code.js';
import { post, basic, errorOf } from './support/authz-client.js';
import { AUDIENCE, ISSUER, connect, createIssuer, now, password, refusal } from './support/broker-fixture.js';

const PROVIDERS: CryptoProvider[] = [portableProvider, nativeProvider];
// The verify-only device's Ed25519 (@noble/ed25519 under the portable provider's checks) is held to the same verdicts.
const hex = (s: string) => fromHex(s);
const le = (b: Uint8Array): bigint => b.reduceRight((n, byte) => (n << 8n) | BigInt(byte), 0n);
const toLE = (n: bigint, length: number): Uint8Array => {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
};

/** Every encoding of a small-order Ed25519 point: the 8 points, then non-canonical encodings (y ≥ p, or x = 0 with its sign bit). */
const SMALL_ORDER_ED25519: Array<[string, Uint8Array]> = [
  ...ED25519_TORSION_SUBGROUP.map((h, i) => [`small-order point #${i} (${h.slice(0, 8)}…)`, hex(h)] as [string, Uint8Array]),
  ['y = p (≡ 0), non-canonical', hex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')],
  ['y = p + 1 (≡ 1, the identity), non-canonical', hex('eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')],
  ['y = p with the sign bit', hex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff')],
  ['y = p + 1 with the sign bit', hex('eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff')],
  ['the identity with the sign bit (x = 0, x_0 = 1)', hex('0100000000000000000000000000000000000000000000000000000000000080')],
  ['order 2 (y = −1) with the sign bit', hex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff')],
];
const SMALL_ORDER_ED448: Array<[string, Uint8Array]> = [
  ...ED448_TORSION_SUBGROUP.map((h, i) => [`Ed448 small-order point #${i}`, hex(h)] as [string, Uint8Array]),
  ['Ed448 y = p + 1 (≡ the identity), non-canonical', toLE(2n ** 448n - 2n ** 224n, 57)],
];

const okp = (crv: 'Ed25519' | 'Ed448', x: Uint8Array): CoseKey => ({ kty: 'OKP', crv, x });
const keyMap = (key: CoseKey): CborMap => {
  const m: CborMap = new Map<CborValue, CborValue>([[1, key.kty === 'OKP' ? 1 : 2], [-1, ({ Ed25519: 6, Ed448: 7, 'P-256': 1, 'P-384': 2, 'P-521': 3 } as Record<Curve, number>)[key.crv!]], [-2, key.x!]]);
  if (key.y) m.set(-3, key.y);
  return m;
};
const jwkOf = (key: CoseKey) => ({ kty: key.kty === 'OKP' ? 'OKP' : 'EC', crv: key.crv!, x: toBase64Url(key.x!), ...(key.y ? { y: toBase64Url(key.y) } : {}) });

/** The ways a public key enters: a COSE_Key on the wire, a cnf claim, a JWK, an object handed in. */
function doorCodes(key: CoseKey): string[] {
  return [
    errorCode(() => decodeCoseKey(encodeCbor(keyMap(key)))),
    errorCode(() => cnfFromMap(new Map([[1, keyMap(key)]]))),
    errorCode(() => jwkToCoseKey(jwkOf(key))),
    errorCode(() => validateCoseKey(key)),
  ];
}
const REFUSED_AT_DOOR = ['ERR_COSE_KEY_INVALID', 'ERR_CWT_CLAIM_INVALID', 'ERR_COSE_KEY_INVALID', 'ERR_COSE_KEY_INVALID'];

describe('small-order and non-canonical EdDSA keys are refused where a key enters (RFC 8032 §5.1.3)', () => {
  for (const [name, x] of [...SMALL_ORDER_ED25519, ...SMALL_ORDER_ED448]) {
    it(`${name}: refused as COSE_Key, as cnf, as JWK`, () => {
      expect(doorCodes(okp(x.length === 32 ? 'Ed25519' : 'Ed448', x))).toEqual(REFUSED_AT_DOOR);
    });
  }

  it('the table is every small-order point: each one times 8 (or 4) is the identity, and noble calls it small', () => {
    for (const h of ED25519_TORSION_SUBGROUP) expect(nobleEd25519.Point.fromHex(h).isSmallOrder()).toBe(true);
    for (const h of ED448_TORSION_SUBGROUP) expect(nobleEd448.Point.fromHex(h).isSmallOrder()).toBe(true);
  });

  it('fresh keys of both curves still enter everywhere', () => {
    for (const crv of ['Ed25519', 'Ed448'] as const) {
      const key = okp(crv, extendedPortableProvider.generateKeyPair(crv).x);
      expect(doorCodes(key)).toEqual(['no error', 'no error', 'no error', 'no error']);
    }
  });
});

describe('EC2 points off the curve are refused where a key enters (SEC 1 §3.2.2.1)', () => {
  const P: Record<string, bigint> = {
    'P-256': 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
    'P-384': 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
    'P-521': 2n ** 521n - 1n,
  };
  const be = (n: bigint, length: number) => toLE(n, length).reverse();
  const num = (b: Uint8Array) => le(b.slice().reverse());

  for (const crv of ['P-256', 'P-384', 'P-521'] as const) {
    const pair = extendedPortableProvider.generateKeyPair(crv);
    const n = pair.x.length;
    const p = P[crv]!;
    const good: CoseKey = { kty: 'EC2', crv, x: pair.x, y: pair.y! };

    it(`${crv}: a fresh point and its negation enter; y + 1, y + p, x = p and (0, 0) do not`, () => {
      expect(doorCodes(good)).toEqual(['no error', 'no error', 'no error', 'no error']);
      expect(doorCodes({ ...good, y: be(p - num(pair.y!), n) })).toEqual(['no error', 'no error', 'no error', 'no error']);
      const y = num(pair.y!);
      const offCurve = { ...good, y: be((y + 1n) % p, n) };
      expect(doorCodes(offCurve)).toEqual(REFUSED_AT_DOOR);
      if (y + p < 2n ** BigInt(8 * n)) expect(doorCodes({ ...good, y: be(y + p, n) })).toEqual(REFUSED_AT_DOOR);
      expect(doorCodes({ ...good, x: be(p, n) })).toEqual(REFUSED_AT_DOOR);
      expect(doorCodes({ ...good, x: new Uint8Array(n), y: new Uint8Array(n) })).toEqual(REFUSED_AT_DOOR);
    });
  }
});

// ---- Both providers: the same verdict on every hostile (key, signature), and the same typed refusal.

const MESSAGE_PAYLOAD = utf8('hostile payload');
const PROTECTED_EDDSA = encodeCbor(new Map([[1, -8]]));
const PROTECTED_ES256 = encodeCbor(new Map([[1, -7]]));
/** RFC 9052 §4.4: the bytes a COSE_Sign1 signature covers. */
const toBeSigned = (prot: Uint8Array) => encodeCbor(['Signature1', prot, new Uint8Array(0), MESSAGE_PAYLOAD]);
const sign1With = (prot: Uint8Array, signature: Uint8Array) => encodeCbor(new Tag([prot, new Map(), MESSAGE_PAYLOAD, signature], 18));

interface Row {
  name: string;
  key: CoseKey;
  signature: Uint8Array;
  accepted: boolean;
}

function ed25519Rows(): Row[] {
  const { Point } = nobleEd25519;
  const L = Point.Fn.ORDER;
  const msg = toBeSigned(PROTECTED_EDDSA);
  const secret = nobleEd25519.utils.randomSecretKey();
  const { scalar: a, pointBytes: A } = nobleEd25519.utils.getExtendedPublicKey(secret);
  const k = (R: Uint8Array, pub: Uint8Array) => Point.Fn.create(le(sha512(concatBytes(R, pub, msg))));
  const sig = (R: Uint8Array, s: bigint) => concatBytes(R, toLE(s, 32));
  const identity = hex(ED25519_TORSION_SUBGROUP[0]!);
  const honest = nobleEd25519.sign(msg, secret);
  const key = okp('Ed25519', A);
  const T8 = Point.fromHex(ED25519_TORSION_SUBGROUP[1]!);
  const rows: Row[] = [
    { name: 'an honest signature', key, signature: honest, accepted: true },
    { name: 'S + L (non-canonical S, the same signature re-encoded)', key, signature: sig(honest.subarray(0, 32), le(honest.subarray(32)) + L), accepted: false },
    { name: 'S = 2^256 − 1', key, signature: concatBytes(honest.subarray(0, 32), new Uint8Array(32).fill(0xff)), accepted: false },
    { name: 'R = identity, S = 0 under a real key', key, signature: sig(identity, 0n), accepted: false },
    { name: 'R non-canonical (y = p)', key, signature: sig(hex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'), le(honest.subarray(32))), accepted: false },
  ];
  // The key's holder signing with a small-order R: R = identity, S = k·a verifies under both equations.
  for (const [i, h] of ED25519_TORSION_SUBGROUP.entries()) {
    const R = hex(h);
    rows.push({ name: `R = small-order point #${i}, S = k·a (the holder's nonce-less signature)`, key, signature: sig(R, Point.Fn.create(k(R, A) * a)), accepted: false });
  }
  // R with a torsion component, made by the holder: only a cofactored equation admits it.
  {
    const r = 0x1234567n;
    const R = Point.BASE.multiply(r).add(T8).toBytes();
    rows.push({ name: 'R = rB + T (torsion component), S = r + k·a', key, signature: sig(R, Point.Fn.create(r + k(R, A) * a)), accepted: false });
  }
  // A mixed-order key aB + T: honest signatures hold under the cofactorless equation only when 8 | k.
  {
    const mixed = Point.BASE.multiply(a).add(T8).toBytes();
    let refused: Row | undefined;
    let accepted: Row | undefined;
    for (let r = 1n; !(refused && accepted); r++) {
      const R = Point.BASE.multiply(r).toBytes();
      const kk = k(R, mixed);
      const row = { key: okp('Ed25519', mixed), signature: sig(R, Point.Fn.create(r + kk * a)) };
      if (kk % 8n === 0n) accepted ??= { ...row, name: 'a mixed-order key aB + T, 8 | k: both accept (a torsion check costs a scalar multiplication)', accepted: true };
      else refused ??= { ...row, name: 'a mixed-order key aB + T, 8 ∤ k', accepted: false };
    }
    rows.push(refused!, accepted!);
  }
  for (const [name, x] of SMALL_ORDER_ED25519) rows.push({ name: `key = ${name}, R = identity, S = 0`, key: okp('Ed25519', x), signature: sig(identity, 0n), accepted: false });
  return rows;
}

function ed448Rows(): Row[] {
  const msg = toBeSigned(PROTECTED_EDDSA);
  const secret = nobleEd448.utils.randomSecretKey();
  const key = okp('Ed448', nobleEd448.getPublicKey(secret));
  const honest = nobleEd448.sign(msg, secret);
  const L = nobleEd448.Point.Fn.ORDER;
  const identity = hex(ED448_TORSION_SUBGROUP[0]!);
  const rows: Row[] = [
    { name: 'Ed448: an honest signature', key, signature: honest, accepted: true },
    { name: 'Ed448: S + L', key, signature: concatBytes(honest.subarray(0, 57), toLE(le(honest.subarray(57)) + L, 57)), accepted: false },
    { name: 'Ed448: R = identity, S = 0 under a real key', key, signature: concatBytes(identity, new Uint8Array(57)), accepted: false },
  ];
  // Ed448 under both providers checks the cofactored equation (noble; OpenSSL's decaf decodes R
  // times the cofactor): the holder's torsioned R, or a mixed-order key, is accepted by both alike.
  {
    const { Point } = nobleEd448;
    const { scalar: a } = nobleEd448.utils.getExtendedPublicKey(secret);
    const dom4 = concatBytes(utf8('SigEd448'), new Uint8Array([0, 0])); // RFC 8032 §5.2: no prehash, empty context
    const k = (R: Uint8Array, pub: Uint8Array) => Point.Fn.create(le(shake256(concatBytes(dom4, R, pub, msg), { dkLen: 114 })));
    const T4 = Point.fromHex(ED448_TORSION_SUBGROUP[2]!);
    const R = Point.BASE.multiply(0x1234567n).add(T4).toBytes();
    rows.push({ name: 'Ed448: R = rB + T (torsion component), S = r + k·a: both accept (cofactored)', key, signature: concatBytes(R, toLE(Point.Fn.create(0x1234567n + k(R, key.x!) * a), 57)), accepted: true });
    const mixed = Point.BASE.multiply(a).add(T4).toBytes();
    const R2 = Point.BASE.multiply(0x7654321n).toBytes();
    rows.push({ name: 'Ed448: a mixed-order key aB + T: both accept (cofactored)', key: okp('Ed448', mixed), signature: concatBytes(R2, toLE(Point.Fn.create(0x7654321n + k(R2, mixed) * a), 57)), accepted: true });
  }
  for (const [name, x] of SMALL_ORDER_ED448) rows.push({ name: `key = ${name}, R = identity, S = 0`, key: okp('Ed448', x), signature: concatBytes(identity, new Uint8Array(57)), accepted: false });
  return rows;
}

function es256Rows(): Row[] {
  const pair = portableProvider.generateKeyPair('P-256');
  const priv: CoseKey = { kty: 'EC2', crv: 'P-256', x: pair.x, y: pair.y!, d: pair.d };
  const key = publicCoseKey(priv);
  const honest = portableProvider.sign(priv, 'SHA-256', toBeSigned(PROTECTED_ES256));
  const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const be = (v: bigint) => toLE(v, 32).reverse();
  const r = honest.subarray(0, 32);
  const s = le(honest.subarray(32).slice().reverse());
  const y = le(pair.y!.slice().reverse());
  return [
    { name: 'ES256: an honest (low-S) signature', key, signature: honest, accepted: true },
    { name: 'ES256: its high-S twin (n − s), which other COSE stacks emit', key, signature: concatBytes(r, be(n - s)), accepted: true },
    { name: 'ES256: s = 0', key, signature: concatBytes(r, new Uint8Array(32)), accepted: false },
    { name: 'ES256: r = 0', key, signature: concatBytes(new Uint8Array(32), be(s)), accepted: false },
    { name: 'ES256: s + n (non-canonical)', key, signature: concatBytes(r, be(s + n < 2n ** 256n ? s + n : n)), accepted: false },
    { name: 'ES256: the honest signature under the key with y + 1 (off the curve)', key: { ...key, y: be(y + 1n) }, signature: honest, accepted: false },
    { name: 'ES256: the honest signature under (0, 0)', key: { ...key, x: new Uint8Array(32), y: new Uint8Array(32) }, signature: honest, accepted: false },
  ];
}

describe('both crypto providers refuse the same keys and signatures (portable on noble, native on OpenSSL)', () => {
  const tables: Array<[string, Row[], CryptoProvider[], Uint8Array]> = [
    ['Ed25519', ed25519Rows(), [...PROVIDERS, verifyOnlyProvider], PROTECTED_EDDSA],
    ['Ed448', ed448Rows(), [extendedPortableProvider, nativeProvider], PROTECTED_EDDSA],
    ['ES256', es256Rows(), PROVIDERS, PROTECTED_ES256],
  ];
  for (const [curve, rows, providers, prot] of tables) {
    for (const row of rows) {
      it(`${curve}: ${row.name}: ${row.accepted ? 'accepted' : 'refused'} by ${providers.map((p) => p.name).join(' and ')}`, () => {
        const hash = curve === 'ES256' ? 'SHA-256' : undefined;
        const verdicts = providers.map((p) => p.verify(row.key, hash, toBeSigned(prot), row.signature));
        expect(verdicts).toEqual(providers.map(() => row.accepted));
        // The same typed refusal through COSE: the key handed in as an object (not through the door).
        const codes = providers.map((provider) => errorCode(() => verifySign1(sign1With(prot, row.signature), { ...row.key }, { provider })));
        expect(codes).toEqual(providers.map(() => (row.accepted ? 'no error' : 'ERR_COSE_BAD_SIGNATURE')));
      });
    }
  }
});

// ---- The real components: the HTTP service, and the broker on a socket.

const identityKey = okp('Ed25519', hex(ED25519_TORSION_SUBGROUP[0]!));
const offCurveP256: CoseKey = (() => {
  const pair = nativeProvider.generateKeyPair('P-256');
  const y = pair.y!.slice();
  y[31] = y[31]! ^ 1;
  return { kty: 'EC2', crv: 'P-256', x: pair.x, y };
})();

describe('the authorization service refuses a req_cnf whose key is small-order or off the curve (real HTTP)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'authz-door-'));
  let server: AuthzServer;
  let store: SqliteStore;
  let base = '';
  const auth = { authorization: basic('app', 's3cret-app') };

  beforeAll(async () => {
    store = new SqliteStore(join(dir, 'authz.sqlite'));
    await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read'] });
    await registerClient(store, { id: 'app', secret: 's3cret-app', audiences: ['ekg'], scopes: ['read'], grantTypes: ['client_credentials'] });
    server = await createAuthzServer({ store, dataDir: dir, clock: () => 1_800_000_000, adminToken: 'admin-credential-for-tests' });
    base = (await server.listen(0)).url;
  });
  afterAll(async () => {
    await server.close();
    store.close();
  });

  const reqCnf = (key: CoseKey) => new Map([[1, keyMap(key)]]);
  const cases: Array<[string, CoseKey]> = [
    ['the Ed25519 identity point', identityKey],
    ['the Ed25519 point of order 8', okp('Ed25519', hex(ED25519_TORSION_SUBGROUP[1]!))],
    ['a non-canonical encoding of the identity (y = p + 1)', okp('Ed25519', hex('eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'))],
    ['a P-256 point off the curve', offCurveP256],
  ];
  for (const [name, key] of cases) {
    it(`${name}: invalid_request in JSON and in CBOR, no token`, async () => {
      const json = await post(base, '/token', { grant_type: 'client_credentials', audience: 'ekg', scope: 'read', req_cnf: toBase64Url(encodeCbor(reqCnf(key))) }, 'json', auth);
      expect([json.status, errorOf(json), json.data.access_token]).toEqual([400, 'invalid_request', undefined]);
      const cbor = await post(base, '/token', new Map<CborValue, CborValue>([[33, 2], [9, 'read'], [5, 'ekg'], [4, reqCnf(key)]]), 'cbor', auth);
      expect([cbor.status, errorOf(cbor), cbor.data.get?.(1)]).toEqual([400, 'invalid_request', undefined]);
    });
  }

  it('a fresh key in the same request gets its token', async () => {
    const key = okp('Ed25519', nativeProvider.generateKeyPair('Ed25519').x);
    const r = await post(base, '/token', { grant_type: 'client_credentials', audience: 'ekg', scope: 'read', req_cnf: toBase64Url(encodeCbor(reqCnf(key))) }, 'json', auth);
    expect(r.status).toBe(200);
    expect(typeof r.data.access_token).toBe('string');
  });
});

describe('verifiers refuse a token whose cnf is a small-order key, and the broker refuses its CONNECT (real broker)', () => {
  const issuer = createIssuer();
  let broker: KeyboundBroker;
  let url = '';
  const log: string[] = [];
  /** The attacker's signer: R = identity, S = 0, which "verifies" under the identity key for every message. */
  const forger: CryptoProvider = { ...nativeProvider, name: 'forger', sign: () => concatBytes(hex(ED25519_TORSION_SUBGROUP[0]!), new Uint8Array(32)) };

  /** A token a careless service signed for `cnfKey` (createCwt refuses the key now, so the claims are written out). */
  function tokenFor(cnfKey: CoseKey): Uint8Array {
    const t = Math.floor(now());
    const claims = new Map<CborValue, CborValue>([
      [1, ISSUER],
      [3, AUDIENCE],
      [4, t + 3600],
      [6, t],
      [7, nativeProvider.randomBytes(16)],
      [8, new Map([[1, keyMap(cnfKey)]])],
      [9, scopeToCbor(aifMqtt([['sensors/#', ['pub', 'sub']]]))],
    ]);
    return encodeCbor(new Tag(buildSign1(encodeCbor(claims), issuer.signingKey, { kid: issuer.signingKey.kid!, provider: nativeProvider }), 61));
  }
  const forged = (token: Uint8Array, x: Uint8Array, clientId: string) =>
    Buffer.from(createConnectPassword(token, { kty: 'OKP', crv: 'Ed25519', x, d: new Uint8Array(32) }, { audience: AUDIENCE, clientId, clock: now, provider: forger }));

  beforeAll(async () => {
    broker = await createBroker({ audience: AUDIENCE, trust: issuer.trust, logger: (l) => log.push(l) });
    url = (await broker.listen({ port: 0 })).url;
  });
  afterAll(async () => broker.close());

  it('verifyCwt refuses the token under both providers: cnf(8) invalid', () => {
    for (const provider of PROVIDERS) {
      expect(errorCode(() => verifyCwt(tokenFor(identityKey), issuer.trust[0]!, { audience: AUDIENCE, clock: now, provider }))).toBe('ERR_CWT_CLAIM_INVALID');
    }
  });

  const attacks = SMALL_ORDER_ED25519.filter(([n]) => n.startsWith('small-order point #0') || n.startsWith('y = p + 1'));
  for (const [i, [name, x]] of attacks.entries()) {
    it(`CONNECT with a token bound to ${name} and the proof R = identity, S = 0: refused at CONNACK, refusal logged`, async () => {
      const clientId = `forger-${i}`;
      // 4 today (invalid_token); 5 would be as good a refusal should the code registry map it so.
      expect([4, 5]).toContain(await refusal(connect(url, clientId, forged(tokenFor(okp('Ed25519', x)), x, clientId))));
      expect(log.some((l) => l.includes(`"${clientId}"`) && l.includes('refused'))).toBe(true);
    });
  }

  it('the same CONNECT with an honest key and proof is admitted', async () => {
    const { token, key } = issuer.token({ scope: [['sensors/#', ['pub', 'sub']]] });
    const c = await connect(url, 'honest', password(token, key, 'honest'));
    expect(c.connected).toBe(true);
    await c.endAsync();
  });
});

it('a COSE_Key handed to coseKeyToJwk is checked too (a bad key is never published)', () => {
  expect(errorCode(() => coseKeyToJwk(identityKey))).toBe('ERR_COSE_KEY_INVALID');
});
