/**
 * A DPoP proof JWT (RFC 9449 §4.2) made with jose, which shares no code with our verifiers: ES256
 * over { htm, htu, jti, iat, ath } with the public JWK in the header. A test adds claims (an old
 * iat, another jti, a nonce) to make a proof a verifier must refuse.
 */
import { createHash, randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, type CryptoKey, type JWK } from 'jose';

export type DpopKeyPair = { privateKey: CryptoKey; publicKey: CryptoKey };

export async function dpopProofJwt(key: DpopKeyPair, htm: string, htu: string, opts: { accessToken?: string; claims?: Record<string, unknown> } = {}): Promise<string> {
  const jwk = (await exportJWK(key.publicKey)) as JWK;
  // RFC 9449 §4.2: ath, the access token's SHA-256, when the proof goes with one.
  const ath = opts.accessToken !== undefined ? { ath: createHash('sha256').update(opts.accessToken).digest('base64url') } : {};
  return new SignJWT({ htm, htu, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...ath, ...opts.claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y! } })
    .sign(key.privateKey);
}
