/**
 * Trust-anchor updates (cose/trust-update.ts, the format of issue 10): a device accepts a new
 * anchor set only when a CURRENT anchor signed it, for this device, with a higher sequence number;
 * every other update is refused with a stable code. Checked both ways against an independent
 * COSE peer (Debian's cbor2 + OpenSSL).
 */
import { describe, expect, it } from 'vitest';
import {
  ALG,
  Tag,
  createSign1,
  createTrustUpdate,
  decodeCbor,
  encodeCbor,
  coseKeyToMap,
  isErrorCode,
  toHex,
  utf8,
  verifyTrustUpdate,
  MAX_TRUST_UPDATE_BYTES,
  TRUST_UPDATE_ERR,
  type CborValue,
  type CoseKey,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { signingKey } from './support/keys.js';
import { errorCode } from './support/error-code.js';
import { cosePeer as peer, cosePeerAvailable } from './support/cose-peer.js';

const ed = (kid: string) => {
  const k = signingKey('Ed25519', kid);
  return { priv: { ...k.priv, alg: ALG.EdDSA }, pub: { ...k.pub, alg: ALG.EdDSA } };
};
const p256 = (kid: string) => {
  const k = signingKey('P-256', kid);
  return { priv: { ...k.priv, alg: ALG.ES256 }, pub: { ...k.pub, alg: ALG.ES256 } };
};

const old = ed('as-1');
const next = p256('as-2');
const AUD = 'tube-123';
const base = { anchors: [old.pub], storedSeq: 0, audience: AUD };
const update = (over: Partial<{ seq: number; keys: CoseKey[]; iat: number; aud: string }> = {}, key: CoseKey = old.priv) =>
  createTrustUpdate({ seq: 1, keys: [old.pub, next.pub], iat: 1_800_000_000, aud: AUD, ...over }, key);

/** A Sign1 by `key` over an arbitrary payload map, for malformed updates that createTrustUpdate refuses to make. */
const rawUpdate = (payload: CborValue, key: CoseKey = old.priv, kid = old.priv.kid!) => createSign1(encodeCbor(payload), key, { kid });
const payloadMap = (over: Array<[number, CborValue]> = []) =>
  new Map<CborValue, CborValue>([
    [1, 1],
    [2, [coseKeyToMap(next.pub)]],
    [3, 1_800_000_000],
    [4, AUD],
    ...over,
  ]);

describe('trust-anchor updates', () => {
  it('a current anchor signs the complete new set; the verifier gets seq, keys and iat', () => {
    const got = verifyTrustUpdate(update(), base);
    expect(got.seq).toBe(1);
    expect(got.iat).toBe(1_800_000_000);
    expect(got.keys.map((k) => toHex(k.kid!))).toEqual([toHex(utf8('as-1')), toHex(utf8('as-2'))]);
    expect(got.keys[1]).toMatchObject({ kty: 'EC2', crv: 'P-256', alg: ALG.ES256 });
    // An ES256 anchor signs the next one just as well, and the native provider verifies it.
    const bytes = update({ seq: 2, keys: [old.pub] }, next.priv);
    expect(verifyTrustUpdate(bytes, { ...base, anchors: [next.pub], storedSeq: 1, provider: nativeProvider }).seq).toBe(2);
  });

  it('is a tagged COSE_Sign1 with alg and kid protected and the four-label payload', () => {
    const v = decodeCbor(update()) as Tag;
    expect(v).toBeInstanceOf(Tag);
    expect(v.tag).toBe(18);
    const [prot, , payload] = v.value as [Uint8Array, unknown, Uint8Array];
    expect(decodeCbor(prot)).toEqual(new Map<CborValue, CborValue>([[1, -8], [4, utf8('as-1')]]));
    expect([...(decodeCbor(payload) as Map<number, unknown>).keys()]).toEqual([1, 2, 3, 4]);
  });

  it('a forged signer is refused: a key the device does not trust, under a trusted kid or its own', () => {
    const thief = ed('as-1'); // same kid as the trusted anchor, another key
    expect(errorCode(() => verifyTrustUpdate(update({}, thief.priv), base))).toBe(TRUST_UPDATE_ERR.BAD_SIGNATURE);
    const foreign = ed('as-9');
    expect(errorCode(() => verifyTrustUpdate(update({}, foreign.priv), base))).toBe(TRUST_UPDATE_ERR.UNKNOWN_KID);
    // The NEW key may not sign its own admission: it is not yet an anchor.
    expect(errorCode(() => verifyTrustUpdate(update({}, next.priv), base))).toBe(TRUST_UPDATE_ERR.UNKNOWN_KID);
  });

  it('the kid must be protected: one only in the unprotected bucket names no anchor', () => {
    const bytes = createSign1(encodeCbor(payloadMap()), old.priv, { unprotected: new Map([[4, old.priv.kid!]]) });
    expect(errorCode(() => verifyTrustUpdate(bytes, base))).toBe(TRUST_UPDATE_ERR.UNKNOWN_KID);
  });

  it('alg must match the anchor: ES256 under an EdDSA anchor kid, or an algorithm outside the two, is refused', () => {
    const ec = p256('x');
    const confused = createSign1(encodeCbor(payloadMap()), ec.priv, { alg: ALG.ES256, kid: old.pub.kid! });
    expect(errorCode(() => verifyTrustUpdate(confused, base))).toBe(TRUST_UPDATE_ERR.ALG_MISMATCH);
    const p384 = signingKey('P-384', 'as-1');
    const es384 = createSign1(encodeCbor(payloadMap()), p384.priv, { alg: ALG.ES384, kid: old.pub.kid!, provider: nativeProvider });
    expect(errorCode(() => verifyTrustUpdate(es384, { ...base, anchors: [p384.pub] }))).toBe(TRUST_UPDATE_ERR.ALG_MISMATCH);
  });

  it('a stale update (equal or older seq) is refused', () => {
    expect(errorCode(() => verifyTrustUpdate(update({ seq: 5 }), { ...base, storedSeq: 5 }))).toBe(TRUST_UPDATE_ERR.STALE);
    expect(errorCode(() => verifyTrustUpdate(update({ seq: 4 }), { ...base, storedSeq: 5 }))).toBe(TRUST_UPDATE_ERR.STALE);
    expect(verifyTrustUpdate(update({ seq: 6 }), { ...base, storedSeq: 5 }).seq).toBe(6);
  });

  it("another device's update is refused", () => {
    expect(errorCode(() => verifyTrustUpdate(update({ aud: 'tube-124' }), base))).toBe(TRUST_UPDATE_ERR.WRONG_AUDIENCE);
  });

  it('an oversized message is refused before it is parsed, and one cannot be made', () => {
    const big = new Uint8Array(MAX_TRUST_UPDATE_BYTES + 1);
    expect(errorCode(() => verifyTrustUpdate(big, base))).toBe(TRUST_UPDATE_ERR.TOO_LARGE);
    const padded = rawUpdate(payloadMap([[4, 'x'.repeat(4100)]]));
    expect(padded.length).toBeGreaterThan(4096);
    expect(errorCode(() => verifyTrustUpdate(padded, base))).toBe(TRUST_UPDATE_ERR.TOO_LARGE);
    expect(errorCode(() => createTrustUpdate({ seq: 1, keys: [old.pub], iat: 1, aud: 'x'.repeat(5000) }, old.priv))).toBe(TRUST_UPDATE_ERR.TOO_LARGE);
  });

  it('malformed updates are refused with `malformed`, even when a trusted key signed them', () => {
    const bad: Array<[string, Uint8Array]> = [
      ['not CBOR', new Uint8Array([0xff, 0x00])],
      ['not a Sign1', encodeCbor([1, 2, 3])],
      ['payload not a map', rawUpdate([1, 2])],
      ['unknown label', rawUpdate(payloadMap([[5, 1]]))],
      ['negative seq', rawUpdate(payloadMap([[1, -1]]))],
      ['no aud', rawUpdate(new Map<CborValue, CborValue>([[1, 1], [2, [coseKeyToMap(next.pub)]], [3, 1]]))],
      ['empty key set', rawUpdate(payloadMap([[2, []]]))],
      ['17 keys', rawUpdate(payloadMap([[2, Array.from({ length: 17 }, (_, i) => coseKeyToMap(ed(`k${i}`).pub))]]))],
      ['a private key in the set', rawUpdate(payloadMap([[2, [coseKeyToMap(next.priv)]]]))],
      ['a symmetric key in the set', rawUpdate(payloadMap([[2, [coseKeyToMap({ kty: 'Symmetric', k: new Uint8Array(32), kid: utf8('s'), alg: 5 })]]]))],
      ['a key without alg', rawUpdate(payloadMap([[2, [coseKeyToMap({ ...next.pub, alg: undefined } as CoseKey)]]]))],
      ['a key without kid', rawUpdate(payloadMap([[2, [coseKeyToMap({ ...next.pub, kid: undefined } as CoseKey)]]]))],
      ['a key whose alg does not fit it', rawUpdate(payloadMap([[2, [coseKeyToMap({ ...next.pub, alg: ALG.EdDSA })]]]))],
      ['two keys under one kid', rawUpdate(payloadMap([[2, [coseKeyToMap(next.pub), coseKeyToMap({ ...ed('as-2').pub })]]]))],
    ];
    for (const [what, bytes] of bad) expect(errorCode(() => verifyTrustUpdate(bytes, base)), what).toBe(TRUST_UPDATE_ERR.MALFORMED);
  });

  it('a tampered payload (one bit anywhere in it) is refused', () => {
    const good = update();
    const v = decodeCbor(good) as Tag;
    const payload = (v.value as Uint8Array[])[2]!;
    const at = toHex(good).indexOf(toHex(payload)) / 2;
    let refused = 0;
    for (let i = 0; i < payload.length; i += 7) {
      const bytes = good.slice();
      bytes[at + i]! ^= 0x01;
      const code = errorCode(() => verifyTrustUpdate(bytes, base));
      expect(['bad_signature', 'malformed'], `byte ${i}`).toContain(code);
      refused += 1;
    }
    expect(refused).toBeGreaterThan(10);
    const sigFlip = good.slice();
    sigFlip[sigFlip.length - 1]! ^= 0x80;
    expect(errorCode(() => verifyTrustUpdate(sigFlip, base))).toBe(TRUST_UPDATE_ERR.BAD_SIGNATURE);
  });

  it('every refusal code is in the error-code registry', () => {
    for (const code of Object.values(TRUST_UPDATE_ERR)) expect(isErrorCode(code), code).toBe(true);
  });
});


describe.runIf(cosePeerAvailable)('trust updates and an independent COSE peer (cbor2 + OpenSSL)', () => {
  it('the peer verifies our update and reads seq, keys, iat, aud', () => {
    const out = peer({ op: 'verify', kind: 'sign1', message: toHex(update({ seq: 7 })), key: { x: toHex(old.pub.x!) } });
    expect(out.ok).toBe(true);
    expect(out.claims['1']).toBe(7);
    expect(out.claims['4']).toBe(AUD);
    expect(out.claims['2'][1]['-2']).toEqual({ bytes: toHex(next.pub.x!) });
  });

  it("we verify an update the peer signed, and refuse it when a byte of the peer's payload changes", () => {
    const keyJson = (k: CoseKey) => ({ '1': 1, '2': { bytes: toHex(k.kid!) }, '3': -8, '-1': 6, '-2': { bytes: toHex(k.x!) } });
    const fresh = ed('as-3');
    const signed = peer({ op: 'sign-cwt', claims: { '1': 9, '2': [keyJson(fresh.pub)], '3': 1_800_000_000, '4': AUD }, key: { d: toHex(old.priv.d!) }, kid: toHex(old.pub.kid!) });
    const bytes = Uint8Array.from(Buffer.from(signed.token, 'hex'));
    const got = verifyTrustUpdate(bytes, base);
    expect(got.seq).toBe(9);
    expect(toHex(got.keys[0]!.x!)).toBe(toHex(fresh.pub.x!));
    const i = toHex(bytes).indexOf(toHex(fresh.pub.x!)) / 2;
    const tampered = bytes.slice();
    tampered[i]! ^= 1;
    expect(['bad_signature', 'malformed']).toContain(errorCode(() => verifyTrustUpdate(tampered, base)));
  });
});
