/**
 * Whether a client secret or a user's password is too weak to register. A client secret is the
 * only thing between anyone who can reach /token and a token (RFC 6749 §10.10: "the authorization
 * server MUST ... [ensure] it is infeasible for an attacker to guess"); `keybound authz
 * register-client --secret-file F` writes 256 random bits when F does not exist, so an operator
 * never needs to invent one. The estimate is deliberately simple (length × the bits of the
 * character classes used), with a floor on distinct characters so "aaaa…" or a repeated word
 * cannot pass on length alone.
 */

/** Client secrets: at least 128 bits by the estimate (NIST SP 800-63B §5.1.1.2 asks 112 for look-up secrets). */
export const MIN_SECRET_BITS = 128;
/** Passwords a person types at the login page (rate-limited there): at least 60 bits, 12 characters. */
export const MIN_PASSWORD_BITS = 60;
const MIN_PASSWORD_CHARS = 12;
const MIN_SECRET_CHARS = 22;
/** A secret repeating a few characters is weaker than its length says. */
const MIN_DISTINCT_CHARS = 10;
/** Longer is not a secret but a mistake (a key file passed by accident, say); scrypt hashes it anyway. */
export const MAX_SECRET_CHARS = 512;

function classBits(text: string): number {
  let alphabet = 0;
  if (/[a-z]/.test(text)) alphabet += 26;
  if (/[A-Z]/.test(text)) alphabet += 26;
  if (/[0-9]/.test(text)) alphabet += 10;
  if (/[^a-zA-Z0-9]/.test(text)) alphabet += 33;
  return alphabet > 1 ? Math.log2(alphabet) : 0;
}

/** An estimate of the guessing work, in bits: an upper bound for anything a person chose. */
export function estimatedBits(text: string): number {
  const chars = [...text];
  const distinct = new Set(chars).size;
  // A repeated pattern counts once: "abcabcabc" is about as strong as "abc" plus a guessable rule.
  const effective = Math.min(chars.length, distinct * 2);
  return Math.floor(effective * classBits(text));
}

/** Why `secret` is too weak for what it guards, or undefined if it is strong enough. */
export function secretWeakness(secret: string, kind: 'client secret' | 'password' | 'bearer token'): string | undefined {
  const chars = [...secret];
  const [minChars, minBits] = kind === 'password' ? [MIN_PASSWORD_CHARS, MIN_PASSWORD_BITS] : [MIN_SECRET_CHARS, MIN_SECRET_BITS];
  if (chars.length > MAX_SECRET_CHARS) return `the ${kind} is longer than ${MAX_SECRET_CHARS} characters`;
  if (chars.length < minChars) return `the ${kind} has ${chars.length} characters; at least ${minChars} are needed`;
  if (new Set(chars).size < MIN_DISTINCT_CHARS) return `the ${kind} repeats too few characters (fewer than ${MIN_DISTINCT_CHARS} distinct)`;
  const bits = estimatedBits(secret);
  if (bits < minBits) return `the ${kind} is guessable (about ${bits} bits; at least ${minBits} are needed)`;
  return undefined;
}
