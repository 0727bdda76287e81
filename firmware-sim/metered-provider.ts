/**
 * A CryptoProvider that does the real work with an inner provider (the portable one a device
 * would run) and charges each operation's modelled cycles to the device's energy meter. Its
 * randomness is the device's seeded stream, so runs reproduce; it also remembers every
 * (key, nonce) pair it encrypts under, so a scenario can prove that no AEAD nonce was reused.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { portableProvider, toHex, type CoseKey, type CryptoProvider, type KeyPair } from '../cose/index.js';
import type { AeadCipher, Curve, HashName } from '../cose/index.js';
import type { EnergyMeter } from './energy-meter.js';
import type { Prng } from './prng.js';
import type { MeteredOp } from './quickjs-engine.js';

export interface CryptoCounts {
  verify: number;
  sign: number;
  hmac: number;
  digest: number;
  hkdf: number;
  aead: number;
  randomBytes: number;
}

const shaBlocks = (bytes: number): number => Math.ceil((bytes + 9) / 64);
const hmacBlocks = (bytes: number): number => shaBlocks(64 + bytes) + shaBlocks(64 + 32);

/** A key pair from the seeded stream (the portable provider's keygen draws from the OS instead). */
export function seededKeyPair(crv: Curve, prng: Prng): KeyPair {
  if (crv === 'Ed25519') {
    const d = prng.bytes(32);
    return { crv, d, x: ed25519.getPublicKey(d) };
  }
  if (crv === 'P-256') {
    let d = prng.bytes(32);
    while (!p256.utils.isValidSecretKey(d)) d = prng.bytes(32);
    const point = p256.getPublicKey(d, false);
    return { crv, d, x: point.slice(1, 33), y: point.slice(33) };
  }
  throw new RangeError(`the simulator generates Ed25519 and P-256 keys, not ${crv}`);
}

/** The inner provider with seeded randomness: for the simulated AS and clients (not metered). */
export function seededProvider(prng: Prng, inner: CryptoProvider = portableProvider): CryptoProvider {
  return {
    ...inner,
    name: `${inner.name}+seeded`,
    sign: inner.sign.bind(inner),
    verify: inner.verify.bind(inner),
    hmac: inner.hmac.bind(inner),
    digest: inner.digest.bind(inner),
    hkdf: inner.hkdf.bind(inner),
    aeadEncrypt: inner.aeadEncrypt.bind(inner),
    aeadDecrypt: inner.aeadDecrypt.bind(inner),
    randomBytes: (n) => prng.bytes(n),
    generateKeyPair: (crv) => seededKeyPair(crv, prng),
  };
}

export class MeteredProvider implements CryptoProvider {
  readonly name = 'metered';
  readonly counts: CryptoCounts = { verify: 0, sign: 0, hmac: 0, digest: 0, hkdf: 0, aead: 0, randomBytes: 0 };
  /** AEAD encryptions that reused a (key, nonce) pair: must stay 0. */
  nonceReuse = 0;
  private readonly seenNonces = new Set<string>();

  constructor(
    private readonly meter: EnergyMeter,
    private readonly prng: Prng,
    private readonly inner: CryptoProvider = portableProvider,
  ) {}

  private cycles(n: number): void {
    this.meter.cpuCycles(n);
  }

  /**
   * Counts one operation and charges its modelled cycles. Called by each method below, and by a
   * device whose crypto runs in another engine (QuickJS, firmware-sim/quickjs-engine.ts), so that
   * both engines cost the same in the energy model.
   */
  charge(op: MeteredOp): void {
    const c = this.meter.hw.cycles;
    this.counts[op.op]++;
    switch (op.op) {
      case 'sign':
        this.cycles((op.kty === 'OKP' ? c.ed25519Sign : c.es256Sign) + shaBlocks(op.bytes) * c.sha256Block);
        break;
      case 'verify':
        // Ed25519 hashes the message with SHA-512 inside; we charge it at the SHA-256 block rate (approx.).
        this.cycles((op.kty === 'OKP' ? c.ed25519Verify : c.es256Verify) + shaBlocks(op.bytes) * c.sha256Block);
        break;
      case 'hmac':
        this.cycles(hmacBlocks(op.bytes) * c.sha256Block);
        break;
      case 'digest':
        this.cycles(shaBlocks(op.bytes) * c.sha256Block);
        break;
      case 'hkdf':
        // RFC 5869: one HMAC to extract, one per 32-byte output block to expand.
        this.cycles((hmacBlocks(op.bytes) + Math.ceil(op.extra / 32) * hmacBlocks(32 + op.info + 1)) * c.sha256Block);
        break;
      case 'aead':
        if (op.nonceId !== undefined) {
          if (this.seenNonces.has(op.nonceId)) this.nonceReuse++;
          else this.seenNonces.add(op.nonceId);
        }
        // RFC 3610: CBC-MAC over B0, the AAD and the text, CTR over the text and the tag block.
        this.cycles((1 + Math.ceil((op.bytes + 2) / 16) + 2 * Math.ceil(op.extra / 16) + 1) * c.aesBlock);
        break;
    }
  }

  sign(key: CoseKey, hash: HashName | undefined, message: Uint8Array): Uint8Array {
    this.charge({ op: 'sign', kty: key.kty, bytes: message.length, extra: 0, info: 0 });
    return this.inner.sign(key, hash, message);
  }

  verify(key: CoseKey, hash: HashName | undefined, message: Uint8Array, signature: Uint8Array): boolean {
    this.charge({ op: 'verify', kty: key.kty, bytes: message.length, extra: 0, info: 0 });
    return this.inner.verify(key, hash, message, signature);
  }

  hmac(hash: HashName, key: Uint8Array, data: Uint8Array): Uint8Array {
    this.charge({ op: 'hmac', kty: '', bytes: data.length, extra: 0, info: 0 });
    return this.inner.hmac(hash, key, data);
  }

  digest(hash: HashName, data: Uint8Array): Uint8Array {
    this.charge({ op: 'digest', kty: '', bytes: data.length, extra: 0, info: 0 });
    return this.inner.digest(hash, data);
  }

  hkdf(hash: HashName, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    this.charge({ op: 'hkdf', kty: '', bytes: ikm.length, extra: length, info: info.length });
    return this.inner.hkdf(hash, ikm, salt, info, length);
  }

  aeadEncrypt(aead: AeadCipher, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    this.charge({ op: 'aead', kty: '', bytes: aad.length, extra: plaintext.length, info: 0, nonceId: `${toHex(key)}:${toHex(nonce)}` });
    return this.inner.aeadEncrypt(aead, key, nonce, aad, plaintext);
  }

  aeadDecrypt(aead: AeadCipher, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    this.charge({ op: 'aead', kty: '', bytes: aad.length, extra: sealed.length, info: 0 });
    return this.inner.aeadDecrypt(aead, key, nonce, aad, sealed);
  }

  randomBytes(length: number): Uint8Array {
    this.counts.randomBytes += length;
    this.cycles(length * this.meter.hw.cycles.randomByte);
    return this.prng.bytes(length);
  }

  generateKeyPair(crv: Curve): KeyPair {
    this.counts.sign++;
    this.cycles(crv === 'Ed25519' ? this.meter.hw.cycles.ed25519Sign : this.meter.hw.cycles.es256Sign);
    return seededKeyPair(crv, this.prng);
  }
}
