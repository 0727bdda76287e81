import { describe, expect, it } from 'vitest';
import {
  createRevocationList,
  createSign1,
  encodeCbor,
  tokenHash,
  tokenHashUri,
  utf8,
  verifyRevocationList,
  portableProvider,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { signingKey } from './support/keys.js';
import { errorCode as code } from './support/error-code.js';

const as = signingKey();


describe('token hashes', () => {
  it('are SHA-256 over the exact bytes, equal from both providers, in RFC 6920 form', () => {
    const t = utf8('token bytes');
    expect(tokenHash(t, portableProvider)).toEqual(tokenHash(t, nativeProvider));
    expect(tokenHash(t)).toHaveLength(32);
    expect(tokenHashUri(new Uint8Array(32))).toBe('ni:///sha-256;AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
  });
});

describe('signed revocation lists', () => {
  const h1 = tokenHash(utf8('one'));
  const h2 = tokenHash(utf8('two'));

  it('round-trip full sets and diff sets', () => {
    const full = createRevocationList({ audience: 'tube-123', sequence: 7, fullSet: [h1, h2] }, as.priv);
    expect(verifyRevocationList(full, as.pub, { audience: 'tube-123' })).toEqual({ audience: 'tube-123', sequence: 7, fullSet: [h1, h2] });
    const diff = createRevocationList({ audience: 'tube-123', sequence: 8, diffSet: [{ removed: [h1], added: [h2] }], cursor: 8, more: false }, as.priv);
    expect(verifyRevocationList(diff, as.pub, { audience: 'tube-123', provider: nativeProvider }).diffSet).toEqual([{ removed: [h1], added: [h2] }]);
  });

  it('refuse another audience, another signer, and tampering', () => {
    const full = createRevocationList({ audience: 'tube-123', sequence: 7, fullSet: [h1] }, as.priv);
    expect(code(() => verifyRevocationList(full, as.pub, { audience: 'tube-999' }))).toBe('ERR_CWT_WRONG_AUDIENCE');
    expect(code(() => verifyRevocationList(full, signingKey().pub, { audience: 'tube-123' }))).toBe('ERR_COSE_BAD_SIGNATURE');
    const forged = createSign1(encodeCbor(new Map<number, string | number | never[]>([[100, 'tube-123'], [101, 99], [0, []]])), signingKey().priv);
    expect(code(() => verifyRevocationList(forged, as.pub, { audience: 'tube-123' }))).toBe('ERR_COSE_BAD_SIGNATURE');
  });

  it('refuse malformed payloads even when signed', () => {
    const signed = (m: Map<number, unknown>) => createSign1(encodeCbor(m as never), as.priv);
    for (const m of [
      new Map<number, unknown>([[101, 1], [0, []]]),
      new Map<number, unknown>([[100, 'tube-123'], [0, []]]),
      new Map<number, unknown>([[100, 'tube-123'], [101, 1], [0, [utf8('short')]]]),
      new Map<number, unknown>([[100, 'tube-123'], [101, 1], [0, []], [1, []]]),
      new Map<number, unknown>([[100, 'tube-123'], [101, 1], [1, [[[]]]]]),
      new Map<number, unknown>([[100, 'tube-123'], [101, 1], [0, Array.from({ length: 1025 }, () => h1)]]),
    ]) {
      expect(code(() => verifyRevocationList(signed(m), as.pub, { audience: 'tube-123' }))).toBe('ERR_COSE_MALFORMED');
    }
  });
});
