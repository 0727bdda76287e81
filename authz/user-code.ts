/**
 * RFC 8628 §6.1 user codes: 8 characters from 20 consonants (no vowels, so no words; no
 * look-alikes), about 34.5 bits. Brute force is stopped by the rate limit on the verification page.
 */
const ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

export function makeUserCode(random: (n: number) => Uint8Array): string {
  let out = '';
  while (out.length < 8) {
    for (const b of random(16)) {
      // Rejection sampling: 240 = 12 * 20 keeps the distribution uniform.
      if (b < 240 && out.length < 8) out += ALPHABET[b % 20];
    }
  }
  return `${out.slice(0, 4)}-${out.slice(4)}`;
}

/** Users type codes loosely: upper-case, drop separators and spaces, then re-insert the dash. */
export function normalizeUserCode(input: string): string | undefined {
  const s = input.toUpperCase().replace(/[\s-]/g, '');
  if (s.length !== 8 || [...s].some((c) => !ALPHABET.includes(c))) return undefined;
  return `${s.slice(0, 4)}-${s.slice(4)}`;
}
