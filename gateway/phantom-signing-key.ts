/**
 * The key the gateway signs its phantom JWTs with (phantom-token.ts), published at its
 * /.well-known/jwks.json. Several instances behind one load balancer must sign with one key, or
 * an upstream that trusts the JWKS of one instance refuses the JWTs of the others: so the key is
 * read from a PEM file every instance is given (an EC P-256 private key, e.g. made by `openssl
 * genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`); without one, a key of this process.
 * The kid is the RFC 7638 thumbprint, so every instance names the shared key alike.
 */
import { createPrivateKey, createPublicKey, type JsonWebKey as NodeJwk } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { GatewayError } from './errors.js';

export interface PhantomSigningKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  kid: string;
}

/** A fresh ES256 key for this process only (one gateway instance). */
export async function newPhantomSigningKey(): Promise<PhantomSigningKey> {
  const pair = await generateKeyPair('ES256', { extractable: true });
  return { ...pair, kid: await calculateJwkThumbprint(await exportJWK(pair.publicKey), 'sha256') };
}

/**
 * The shared key from its PEM (PKCS#8 or SEC 1 "EC PRIVATE KEY"). Anything but an EC P-256
 * private key is refused; the message names what was found, never the key's bytes.
 */
export async function phantomSigningKeyFromPem(pem: string): Promise<PhantomSigningKey> {
  let jwk: NodeJwk;
  try {
    const key = createPrivateKey({ key: pem, format: 'pem' });
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new GatewayError('invalid_request', `phantom signing key: an EC P-256 private key is needed (ES256), not ${key.asymmetricKeyType}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ''}`);
    }
    jwk = key.export({ format: 'jwk' });
    // The public half must be the private key's own (createPublicKey derives it), not a stray member.
    const derived = createPublicKey(key).export({ format: 'jwk' });
    if (derived.x !== jwk.x || derived.y !== jwk.y) throw new GatewayError('invalid_request', 'phantom signing key: inconsistent EC key');
  } catch (e) {
    if (e instanceof GatewayError) throw e;
    throw new GatewayError('invalid_request', 'phantom signing key: not a PEM private key');
  }
  const publicJwk: JWK = { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! };
  const privateKey = (await importJWK({ ...publicJwk, d: jwk.d! }, 'ES256')) as CryptoKey;
  const publicKey = (await importJWK(publicJwk, 'ES256')) as CryptoKey;
  return { privateKey, publicKey, kid: await calculateJwkThumbprint(publicJwk, 'sha256') };
}
