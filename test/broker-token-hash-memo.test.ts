/**
 * The broker remembers each token's hash by its exact bytes (broker/token-hash-memo.ts, issue 13).
 * The memo must answer exactly what tokenHash answers: for every form of a token a verifier
 * accepts (tags dropped, unprotected labels added), for junk, for tokens too large to remember,
 * after eviction; and hand out copies. Attack: have the broker remember a token in one form, get
 * it revoked, then come back in another form or the same one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decodeCbor, encodeCbor, Tag, tokenHash, utf8, type CborValue } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { CONNACK, createBroker, memoizedTokenHash, MAX_MEMO_BYTES, MAX_MEMO_TOKEN_BYTES, type KeyboundBroker } from '../broker/index.js';
import { AUDIENCE, connect, createIssuer, password, refusal } from './support/broker-fixture.js';

const issuer = createIssuer();
const inner = (token: Uint8Array) => (((decodeCbor(token) as Tag).value as Tag).value as CborValue[]).slice();
const forms = (token: Uint8Array): Array<[string, Uint8Array]> => {
  const withLabels = inner(token);
  withLabels[1] = new Map<CborValue, CborValue>([[99, 0], [-70000, utf8('padding')]]);
  return [
    ['as issued', token],
    ['untagged', encodeCbor(inner(token))],
    ['COSE tag only', encodeCbor((decodeCbor(token) as Tag).value as Tag)],
    ['unprotected labels', encodeCbor(new Tag(new Tag(withLabels, 18), 61))],
  ];
};

describe('the token-hash memo', () => {
  const { token } = issuer.token({ scope: [['a/#', ['pub']]] });

  it('answers what tokenHash answers, for every accepted form, junk, and tokens too large to remember, twice', () => {
    const memo = memoizedTokenHash(nativeProvider);
    const inputs: Uint8Array[] = [
      ...forms(token).map(([, t]) => t),
      nativeProvider.randomBytes(40), // a reference token
      new Uint8Array([0xff, 0x00, 0x9f]), // not CBOR
      new Uint8Array(MAX_MEMO_TOKEN_BYTES + 1).fill(7),
    ];
    for (let round = 0; round < 2; round++) for (const t of inputs) expect(memo(t)).toEqual(tokenHash(t, nativeProvider));
    // All the accepted forms name one token.
    for (const [, t] of forms(token)) expect(memo(t)).toEqual(tokenHash(token, nativeProvider));
  });

  it('hands out copies: changing one changes no later answer', () => {
    const memo = memoizedTokenHash(nativeProvider);
    memo(token).fill(0);
    expect(memo(token)).toEqual(tokenHash(token, nativeProvider));
  });

  it('stays within its byte bound and is still right for what it dropped', () => {
    const memo = memoizedTokenHash(nativeProvider, 2_000);
    const tokens = Array.from({ length: 40 }, (_, i) => issuer.token({ scope: [[`t${i}/#`, ['pub']]] }).token);
    for (const t of tokens) memo(t);
    for (const t of tokens) expect(memo(t)).toEqual(tokenHash(t, nativeProvider));
  });
});

describe('the token-hash memo under a flood of junk (review: it counted key bytes only)', () => {
  it('holds about its bound however small the tokens: 200,000 distinct 3-byte ones', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const held = () => {
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.external;
    };
    const before = held();
    const memo = memoizedTokenHash(nativeProvider);
    const t = new Uint8Array(3);
    for (let i = 0; i < 200_000; i++) {
      t[0] = i & 0xff;
      t[1] = (i >> 8) & 0xff;
      t[2] = i >> 16;
      memo(t);
    }
    const grown = held() - before;
    // Counting key bytes alone, these fit in 0.6 MB of "bound" and took ~75 MB.
    expect(grown).toBeLessThan(MAX_MEMO_BYTES * 1.5);
    expect(memo(t)).toEqual(tokenHash(t, nativeProvider));
  });

  it('files each hash under the bytes it hashed, even when an input says one thing and holds another', () => {
    const memo = memoizedTokenHash(nativeProvider);
    // Its contents are aa 01..07, but it names bytes 01..08 of its buffer (another thread writing a
    // SharedArrayBuffer between two reads would do the same).
    class Lying extends Uint8Array {
      override get byteOffset() {
        return 1;
      }
    }
    memo(new Lying(new Uint8Array([0xaa, 1, 2, 3, 4, 5, 6, 7, 8]).buffer, 0, 8));
    const honest = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(memo(honest)).toEqual(tokenHash(honest, nativeProvider));
  });
});

describe('a broker that remembered a token in one form, once the token is revoked', () => {
  let broker: KeyboundBroker;
  let url: string;
  beforeAll(async () => {
    broker = await createBroker({ audience: AUDIENCE, trust: issuer.trust, logger: () => {} });
    ({ url } = await broker.listen(0));
  });
  afterAll(async () => {
    await broker?.close();
  });

  it('refuses it in every form, the remembered one included', async () => {
    const { token, key } = issuer.token({ scope: [['a/#', ['pub']]] });
    // Admitted in every form first: each form's bytes are now in the memo, the token in the cache.
    for (const [name, t] of forms(token)) {
      const c = await connect(url, `ok-${name.replace(/ /g, '-')}`, password(t, key, `ok-${name.replace(/ /g, '-')}`));
      await c.endAsync();
    }
    await broker.publishRevocationList(AUDIENCE, issuer.revoke(AUDIENCE, tokenHash(token, nativeProvider)));
    for (const [name, t] of forms(token)) {
      const id = `revoked-${name.replace(/ /g, '-')}`;
      expect(await refusal(connect(url, id, password(t, key, id))), name).toBe(CONNACK.NOT_AUTHORIZED);
    }
  });
});
