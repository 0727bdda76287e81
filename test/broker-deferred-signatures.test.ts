/**
 * The broker checks a CONNECT's two signatures (token, proof) on the thread pool
 * (cose/deferred-signatures.ts): the acceptance runs with "valid for now" and the answer comes
 * later. These tests hold what must never follow from that: a forged token is refused with the
 * code the synchronous path gives and never enters the verified-token cache (from where its next
 * CONNECT would pass unchecked); a cached token does not outlive its revocation; a burst mixing
 * forged and genuine CONNECTs admits and caches exactly the genuine ones.
 */
import { describe, expect, it } from 'vitest';
import { brokerTrust, createAdmission, createRevocationLists, createTokenVerifier, memoryJtiStore, ACE_USERNAME, type Admit, type TokenVerifier, type RevocationLists } from '../broker/index.js';
import { tokenHash } from '../cose/index.js';
import { nativeProvider, verifyInThreadPool } from '../cose/adapters/index.js';
import { AUDIENCE, createIssuer, ed25519, now, password } from './support/broker-fixture.js';

const SCOPE = [['sensors/#', ['pub']] as const];

function admission(issuer: ReturnType<typeof createIssuer>, offLoop: boolean): { admit: Admit; verifier: TokenVerifier; revocation: RevocationLists } {
  const trust = brokerTrust(issuer.trust, { audience: AUDIENCE, now: now() });
  const revocation = createRevocationLists(AUDIENCE, trust.resolve, nativeProvider);
  const verifier = createTokenVerifier({ audience: AUDIENCE, trust, clock: now, provider: nativeProvider, isRevoked: (h) => revocation.isRevoked(h) });
  const admit = createAdmission({ audience: AUDIENCE, verifier, jtis: memoryJtiStore(now), clock: now, provider: nativeProvider, ...(offLoop ? { verifyOffLoop: verifyInThreadPool } : {}) });
  return { admit, verifier, revocation };
}

/** The refusal's code, or 'admitted'. */
async function outcome(admit: Admit, clientId: string, pw: Uint8Array): Promise<string> {
  try {
    await admit(clientId, ACE_USERNAME, pw);
    return 'admitted';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

describe('CONNECT signatures checked off the event loop', () => {
  const issuer = createIssuer();
  // Same kid ('as-1'), another key: a token that parses, names a trusted kid, and is forged.
  const rogue = createIssuer();

  it('refuses a forged token with the synchronous path\'s code, and never caches it', async () => {
    const deferred = admission(issuer, true);
    const inline = admission(issuer, false);
    const key = ed25519('c');
    const forged = rogue.token({ scope: [...SCOPE], key }).token;
    const codes = [];
    for (const side of [deferred, inline]) {
      codes.push(await outcome(side.admit, 'forger', password(forged, key, 'forger')));
      // Again with a fresh proof: a cached forgery would pass here.
      codes.push(await outcome(side.admit, 'forger', password(forged, key, 'forger')));
      expect(side.verifier.cached).toBe(0);
    }
    expect(codes[0]).not.toBe('admitted');
    expect(new Set(codes).size).toBe(1);
  });

  it('refuses a genuine token with a proof by another key (bad_proof), as the synchronous path does', async () => {
    const deferred = admission(issuer, true);
    const inline = admission(issuer, false);
    const { token } = issuer.token({ scope: [...SCOPE] });
    const thief = ed25519('thief');
    const codes = [await outcome(deferred.admit, 'x', password(token, thief, 'x')), await outcome(inline.admit, 'x', password(token, thief, 'x'))];
    expect(codes).toEqual(['bad_proof', 'bad_proof']);
  });

  it('refuses expired, wrong-audience and wrong-client-id CONNECTs with the same codes either way', async () => {
    const deferred = admission(issuer, true);
    const inline = admission(issuer, false);
    const expired = issuer.token({ scope: [...SCOPE], exp: Math.floor(now()) - 10 });
    const elsewhere = issuer.token({ scope: [...SCOPE], audience: 'other-broker' });
    const good = issuer.token({ scope: [...SCOPE] });
    const cases = (admit: Admit) =>
      Promise.all([
        outcome(admit, 'e', password(expired.token, expired.key, 'e')),
        outcome(admit, 'w', password(elsewhere.token, elsewhere.key, 'w')),
        outcome(admit, 'not-me', password(good.token, good.key, 'me')),
      ]);
    const a = await cases(deferred.admit);
    expect(a).toEqual(await cases(inline.admit));
    expect(a).not.toContain('admitted');
  });

  it('a cached token does not outlive its revocation', async () => {
    const { admit, verifier, revocation } = admission(issuer, true);
    const { token, key } = issuer.token({ scope: [...SCOPE] });
    expect(await outcome(admit, 'dev', password(token, key, 'dev'))).toBe('admitted');
    expect(verifier.cached).toBe(1);
    revocation.accept(AUDIENCE, issuer.revoke(AUDIENCE, tokenHash(token, nativeProvider)));
    expect(await outcome(admit, 'dev', password(token, key, 'dev'))).toBe('revoked');
  });

  it('a burst of forged and genuine CONNECTs at once admits and caches exactly the genuine ones', async () => {
    const { admit, verifier } = admission(issuer, true);
    const genuine = Array.from({ length: 20 }, () => issuer.token({ scope: [...SCOPE] }));
    const forged = Array.from({ length: 20 }, () => rogue.token({ scope: [...SCOPE] }));
    const results = await Promise.all([
      ...genuine.map((t, i) => outcome(admit, `g${i}`, password(t.token, t.key, `g${i}`))),
      ...forged.map((t, i) => outcome(admit, `f${i}`, password(t.token, t.key, `f${i}`))),
    ]);
    expect(results.slice(0, 20).every((r) => r === 'admitted')).toBe(true);
    expect(results.slice(20).some((r) => r === 'admitted')).toBe(false);
    expect(verifier.cached).toBe(20);
    // And the forged ones stay refused on a second try (nothing of them was cached).
    const again = await Promise.all(forged.map((t, i) => outcome(admit, `f${i}`, password(t.token, t.key, `f${i}`))));
    expect(again.some((r) => r === 'admitted')).toBe(false);
  });
});
