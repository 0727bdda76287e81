/**
 * A CryptoProvider that does the real work with an inner provider (the host's, host-crypto.ts:
 * the same bytes as the portable one a device would run, faster) and charges each operation's modelled cycles to the device's energy meter. Its
 * randomness is the device's seeded stream, so runs reproduce; it also remembers every
 * (key, nonce) pair it encrypts under, so a scenario can prove that no AEAD nonce was reused.
 */
import { p256 } from '@noble/curves/nist.js';
import { toHex, type CoseKey, type CryptoProvider, type KeyPair } from '../cose/index.js';
import type { AeadCipher, Curve, HashName } from '../cose/index.js';
import type { EnergyMeter } from './energy-meter.js';
import { ed25519PublicKey, hostProvider } from './host-crypto.js';
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
  /** Compression-function calls and AES block encryptions actually done (FIPS 180-4, SP 800-38C, SP 800-90A). */
  sha256Blocks: number;
  sha512Blocks: number;
  aesBlocks: number;
}

type Family = 'sha256' | 'sha512';
const familyOf = (hash: HashName): Family => (hash === 'SHA-256' ? 'sha256' : 'sha512');
/** FIPS 180-4 §5.1: SHA-256 pads with 9+ bytes into 64-byte blocks, SHA-384/512 with 17+ into 128. */
const BLOCK: Record<Family, number> = { sha256: 64, sha512: 128 };
const DIGEST: Record<HashName, number> = { 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 };
export const hashBlocks = (family: Family, bytes: number): number => Math.ceil((bytes + (family === 'sha256' ? 9 : 17)) / BLOCK[family]);
/** RFC 2104: a key longer than the block is hashed first; then H(K^ipad || data) and H(K^opad || inner digest). */
const hmacBlocks = (hash: HashName, keyBytes: number, bytes: number): number => {
  const f = familyOf(hash);
  return (keyBytes > BLOCK[f] ? hashBlocks(f, keyBytes) : 0) + hashBlocks(f, BLOCK[f] + bytes) + hashBlocks(f, BLOCK[f] + DIGEST[hash]);
};
/** RFC 3610 §2.2-2.3: CBC-MAC over B0, the encoded AAD and the text; CTR over the text and A0 (the tag). */
const ccmBlocks = (aad: number, text: number): number => 1 + (aad > 0 ? Math.ceil((aad + 2) / 16) : 0) + 2 * Math.ceil(text / 16) + 1;
/** SP 800-90A §10.2.1.5.1: CTR_DRBG generate is one AES block per 16 bytes, then Update (2 blocks for AES-128). */
const drbgAesBlocks = (bytes: number): number => Math.ceil(bytes / 16) + 2;

/** A key pair from the seeded stream (the portable provider's keygen draws from the OS instead). */
export function seededKeyPair(crv: Curve, prng: Prng): KeyPair {
  if (crv === 'Ed25519') {
    const d = prng.bytes(32);
    return { crv, d, x: ed25519PublicKey(d) };
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
export function seededProvider(prng: Prng, inner: CryptoProvider = hostProvider): CryptoProvider {
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
  readonly counts: CryptoCounts = { verify: 0, sign: 0, hmac: 0, digest: 0, hkdf: 0, aead: 0, randomBytes: 0, sha256Blocks: 0, sha512Blocks: 0, aesBlocks: 0 };
  /** AEAD encryptions that reused a (key, nonce) pair: must stay 0. */
  nonceReuse = 0;
  private readonly seenNonces = new Set<string>();

  constructor(
    private readonly meter: EnergyMeter,
    private readonly prng: Prng,
    private readonly inner: CryptoProvider = hostProvider,
  ) {}

  private get c() {
    return this.meter.hw.cycles;
  }

  private hashed(family: Family, blocks: number): void {
    if (family === 'sha256') this.counts.sha256Blocks += blocks;
    else this.counts.sha512Blocks += blocks;
    this.meter.cpuCycles(blocks * (family === 'sha256' ? this.c.sha256Block : this.c.sha512Block));
  }

  private aes(blocks: number): void {
    this.counts.aesBlocks += blocks;
    this.meter.cpuCycles(blocks * this.c.aesBlock);
  }

  /**
   * Counts one operation and charges what it costs. The methods below call it; so does a device
   * whose crypto runs in another engine (QuickJS, firmware-sim/quickjs-engine.ts), so that both
   * engines cost the same in the energy model. That engine reports no hash name, HMAC key or
   * salt length and no tag length: the device's own (SHA-256, 32-byte keys, CCM tag 8) are assumed.
   */
  charge(op: MeteredOp & { hash?: HashName; keyBytes?: number; saltBytes?: number; tagBytes?: number }): void {
    const hash = op.hash ?? 'SHA-256';
    this.counts[op.op]++;
    switch (op.op) {
      case 'sign':
        if (op.kty === 'OKP') {
          // RFC 8032 §5.1.5-5.1.6: SHA-512 of the secret (key expansion), of prefix || M, of R || A || M.
          this.hashed('sha512', hashBlocks('sha512', 32) + hashBlocks('sha512', 32 + op.bytes) + hashBlocks('sha512', 64 + op.bytes));
          this.meter.cpuCycles(this.c.ed25519Sign);
        } else {
          this.hashed(familyOf(hash), hashBlocks(familyOf(hash), op.bytes));
          this.meter.cpuCycles(this.c.es256Sign);
        }
        break;
      case 'verify':
        if (op.kty === 'OKP') {
          // RFC 8032 §5.1.7: k = SHA-512(R || A || M).
          this.hashed('sha512', hashBlocks('sha512', 64 + op.bytes));
          this.meter.cpuCycles(this.c.ed25519Verify);
        } else {
          this.hashed(familyOf(hash), hashBlocks(familyOf(hash), op.bytes));
          this.meter.cpuCycles(this.c.es256Verify);
        }
        break;
      case 'hmac':
        this.hashed(familyOf(hash), hmacBlocks(hash, op.keyBytes ?? 32, op.bytes));
        break;
      case 'digest':
        this.hashed(familyOf(hash), hashBlocks(familyOf(hash), op.bytes));
        break;
      case 'hkdf': {
        // RFC 5869 §2.2-2.3: PRK = HMAC(salt, IKM) (an empty salt is HashLen zeros); then
        // T(i) = HMAC(PRK, T(i-1) || info || i), T(0) empty.
        const n = DIGEST[hash];
        let blocks = hmacBlocks(hash, op.saltBytes || n, op.bytes);
        for (let i = 1; i <= Math.ceil(op.extra / n); i++) blocks += hmacBlocks(hash, n, (i === 1 ? 0 : n) + op.info + 1);
        this.hashed(familyOf(hash), blocks);
        break;
      }
      case 'aead': {
        if (op.nonceId !== undefined) {
          if (this.seenNonces.has(op.nonceId)) this.nonceReuse++;
          else this.seenNonces.add(op.nonceId);
        }
        // An encryption reports its plaintext; a decryption its sealed bytes, tag included.
        const text = op.nonceId !== undefined ? op.extra : Math.max(0, op.extra - (op.tagBytes ?? 8));
        this.aes(ccmBlocks(op.bytes, text));
        break;
      }
    }
  }

  sign(key: CoseKey, hash: HashName | undefined, message: Uint8Array): Uint8Array {
    this.charge({ op: 'sign', kty: key.kty, bytes: message.length, extra: 0, info: 0, ...(hash ? { hash } : {}) });
    return this.inner.sign(key, hash, message);
  }

  verify(key: CoseKey, hash: HashName | undefined, message: Uint8Array, signature: Uint8Array): boolean {
    this.charge({ op: 'verify', kty: key.kty, bytes: message.length, extra: 0, info: 0, ...(hash ? { hash } : {}) });
    return this.inner.verify(key, hash, message, signature);
  }

  hmac(hash: HashName, key: Uint8Array, data: Uint8Array): Uint8Array {
    this.charge({ op: 'hmac', kty: '', bytes: data.length, extra: 0, info: 0, hash, keyBytes: key.length });
    return this.inner.hmac(hash, key, data);
  }

  digest(hash: HashName, data: Uint8Array): Uint8Array {
    this.charge({ op: 'digest', kty: '', bytes: data.length, extra: 0, info: 0, hash });
    return this.inner.digest(hash, data);
  }

  hkdf(hash: HashName, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    this.charge({ op: 'hkdf', kty: '', bytes: ikm.length, extra: length, info: info.length, hash, saltBytes: salt.length });
    return this.inner.hkdf(hash, ikm, salt, info, length);
  }

  aeadEncrypt(aead: AeadCipher, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    this.charge({ op: 'aead', kty: '', bytes: aad.length, extra: plaintext.length, info: 0, nonceId: `${toHex(key)}:${toHex(nonce)}` });
    return this.inner.aeadEncrypt(aead, key, nonce, aad, plaintext);
  }

  aeadDecrypt(aead: AeadCipher, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    this.charge({ op: 'aead', kty: '', bytes: aad.length, extra: sealed.length, info: 0, tagBytes: aead.tagLength });
    return this.inner.aeadDecrypt(aead, key, nonce, aad, sealed);
  }

  randomBytes(length: number): Uint8Array {
    this.counts.randomBytes += length;
    this.aes(drbgAesBlocks(length));
    return this.prng.bytes(length);
  }

  generateKeyPair(crv: Curve): KeyPair {
    this.counts.sign++;
    this.aes(drbgAesBlocks(32));
    if (crv === 'Ed25519') {
      // RFC 8032 §5.1.5: SHA-512 of the seed, then a fixed-base multiplication (the bulk of a sign).
      this.hashed('sha512', hashBlocks('sha512', 32));
      this.meter.cpuCycles(this.c.ed25519Sign);
    } else this.meter.cpuCycles(this.c.es256Sign);
    return seededKeyPair(crv, this.prng);
  }
}
