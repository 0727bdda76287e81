/**
 * The seam through which a host engine supplies randomness. The portable provider draws on the
 * WebCrypto `crypto.getRandomValues` global by default (Node, browsers, Deno); embedded engines
 * such as QuickJS have no such global, so their host passes its hardware random generator here.
 * Nonces, session ids and proof jtis rest on it (RFC 9200 §5.3.1 cnonce, RFC 9203 §4.1 N2), so
 * the host's answer is checked at the door rather than trusted.
 */
import { CoseError, ERR } from './errors.js';
import type { CryptoProvider } from './crypto-provider.js';

/** A cryptographically secure source: `length` fresh bytes per call (a TRNG, or a DRBG seeded from one). */
export type RandomSource = (length: number) => Uint8Array;

/** Below this a run of zero bytes can happen by chance (2^-64 at 8 bytes); at or above it, it means a dead source. */
const ZERO_RUN_SUSPICIOUS = 8;

/** Wraps a host's random source with the checks every caller would otherwise have to repeat. */
export function checkedRandomSource(source: RandomSource): RandomSource {
  return (length) => {
    const out: unknown = source(length);
    if (!(out instanceof Uint8Array) || out.length !== length) {
      throw new CoseError(ERR.COSE_BAD_RANDOMNESS, `host randomness: expected ${length} bytes in a Uint8Array`);
    }
    if (length >= ZERO_RUN_SUSPICIOUS) {
      let any = 0;
      for (let i = 0; i < out.length; i++) any |= out[i]!;
      if (any === 0) throw new CoseError(ERR.COSE_BAD_RANDOMNESS, `host randomness: ${length} zero bytes (is the generator running?)`);
    }
    // A copy, so a host that reuses its buffer cannot change a nonce after we handed it out.
    return new Uint8Array(out);
  };
}

/** `provider` with its randomness taken from `source` (checked); everything else unchanged. */
export function withRandomSource(provider: CryptoProvider, source: RandomSource): CryptoProvider {
  const random = checkedRandomSource(source);
  return { ...provider, name: `${provider.name}+host-random`, randomBytes: random };
}
