/**
 * Our tokens are readable by an independent COSE implementation, and we read its tokens: a peer
 * written on Debian's python3-cbor2 and OpenSSL (python3-cryptography), sharing no code with
 * keybound, builds the RFC 9052 structures itself (test/interop/cose_peer.py).
 */
import { describe, expect, it } from 'vitest';
import {
  createCwt,
  createEncrypt0,
  createMac0,
  fromHex,
  publicCoseKey,
  toHex,
  utf8,
  verifyCwt,
  type CoseKey,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { secretKey, signingKey } from './support/keys.js';
import { cosePeer as peer, cosePeerAvailable } from './support/cose-peer.js';


function keyJson(key: CoseKey): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of ['x', 'y', 'd', 'k'] as const) if (key[f]) out[f] = toHex(key[f]!);
  return out;
}

const NOW = 1_800_000_000;
const claims = {
  iss: 'https://as.example',
  sub: 'ekg-abc',
  aud: 'tube-123',
  exp: NOW + 3600,
  iat: NOW,
  cti: fromHex('0102030405060708'),
  scope: 'read_result',
};


describe.runIf(cosePeerAvailable)('interoperability with an independent COSE implementation (cbor2 + OpenSSL)', () => {
  const client = signingKey('Ed25519', 'client');
  const withCnf = { ...claims, cnf: { coseKey: publicCoseKey(client.priv) } };

  it('verifies our EdDSA CWT and reads the same claims', () => {
    const as = signingKey('Ed25519');
    const out = peer({ op: 'verify', kind: 'sign1', message: toHex(createCwt(withCnf, as.priv)), key: keyJson(as.pub) });
    expect(out.ok).toBe(true);
    expect(out.claims['2']).toBe('ekg-abc');
    expect(out.claims['4']).toBe(NOW + 3600);
    expect(out.claims['7']).toEqual({ bytes: '0102030405060708' });
    expect(out.claims['8']['1']['-2']).toEqual({ bytes: toHex(client.pub.x!) });
  });

  it('verifies our ES256 CWT made by either provider', () => {
    const as = signingKey('P-256');
    for (const provider of [undefined, nativeProvider]) {
      const token = createCwt(withCnf, as.priv, provider ? { provider } : {});
      expect(peer({ op: 'verify', kind: 'sign1', message: toHex(token), key: keyJson(as.pub) }).ok).toBe(true);
    }
  });

  it('verifies our HMAC 256/64 Mac0 and decrypts our AES-CCM-16-64-128 Encrypt0', () => {
    const macKey = secretKey(32);
    expect(peer({ op: 'verify', kind: 'mac0', message: toHex(createMac0(utf8('hello'), macKey)), key: keyJson(macKey) })).toMatchObject({ ok: true, payload: toHex(utf8('hello')) });
    const encKey = secretKey(16);
    expect(peer({ op: 'verify', kind: 'encrypt0', message: toHex(createEncrypt0(utf8('secret'), encKey)), key: keyJson(encKey) })).toMatchObject({ ok: true, payload: toHex(utf8('secret')) });
  });

  it('refuses our token when it was tampered with, as we do', () => {
    const as = signingKey('Ed25519');
    const token = createCwt(withCnf, as.priv);
    token[token.length - 70]! ^= 1; // inside the claims
    expect(peer({ op: 'verify', kind: 'sign1', message: toHex(token), key: keyJson(as.pub) }).ok).toBe(false);
  });

  it('we verify a CWT the peer signed', () => {
    const as = signingKey('Ed25519');
    const { token } = peer({
      op: 'sign-cwt',
      kid: toHex(utf8('as-1')),
      key: { d: toHex(as.priv.d!) },
      claims: {
        1: 'https://as.example',
        3: 'tube-123',
        4: NOW + 60,
        7: { bytes: '0a0b' },
        8: { 1: { 1: 1, '-1': 6, '-2': { bytes: toHex(client.pub.x!) } } },
        9: 'read_result',
      },
    });
    const out = verifyCwt(fromHex(token), as.pub, { audience: 'tube-123', clock: () => NOW });
    expect(out.claims.scope).toBe('read_result');
    expect(out.cnf).toEqual({ coseKey: { kty: 'OKP', crv: 'Ed25519', x: client.pub.x } });
    // With its claims given in label order, the peer's token is byte-identical to ours: same
    // Sig_structure, same deterministic encoding, and EdDSA is deterministic (RFC 8032).
    const ours = createCwt({ iss: 'https://as.example', aud: 'tube-123', exp: NOW + 60, cti: fromHex('0a0b'), cnf: { coseKey: { kty: 'OKP', crv: 'Ed25519', x: client.pub.x! } }, scope: 'read_result' }, as.priv);
    expect(toHex(ours)).toBe(token);
  });
});
