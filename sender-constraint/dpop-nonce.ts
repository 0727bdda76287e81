/**
 * Stateless DPoP server nonces (RFC 9449 §8, §9): a nonce is a time slot and an HMAC-SHA-256 of
 * it under a secret every instance shares, so any instance checks a nonce another issued without
 * a shared store. The secret rotates: nonces under the current or the previous secret are
 * accepted, so a rotation never refuses a client mid-flow. A nonce is accepted in its own slot and
 * the next one (lifetime between one and two slots), and never from the future.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { toBase64Url, utf8 } from '../cose/index.js';

/** The current secret and, during a rotation, the previous one. */
export interface DpopNonceSecrets {
  current: Uint8Array;
  previous?: Uint8Array;
}

export interface DpopNonceOptions {
  /** Slot length in seconds (default 300: a nonce lives 5 to 10 minutes). */
  slotSeconds?: number;
}

export const DEFAULT_NONCE_SLOT_SECONDS = 300;
/** A shared secret shorter than the HMAC's security level is refused at configuration. */
export const MIN_NONCE_SECRET_BYTES = 32;
/** slot (at most 16 decimal digits) + '.' + 22 b64url characters: anything longer is not ours. */
const MAX_NONCE_CHARS = 48;
const MAC_BYTES = 16; // 128-bit tag: forging one by guessing is out of reach within a slot

const slotOf = (now: number, options: DpopNonceOptions): number => Math.floor(now / (options.slotSeconds ?? DEFAULT_NONCE_SLOT_SECONDS));

function mac(secret: Uint8Array, slot: number): Buffer {
  // Domain-separated, so the secret's MACs cannot be confused with another use of it.
  return createHmac('sha256', secret).update(utf8(`keybound dpop-nonce v1 ${slot}`)).digest().subarray(0, MAC_BYTES);
}

function checkSecret(secret: Uint8Array): void {
  if (!(secret instanceof Uint8Array) || secret.length < MIN_NONCE_SECRET_BYTES) {
    throw new RangeError(`DPoP nonce secret must be at least ${MIN_NONCE_SECRET_BYTES} bytes`);
  }
}

/** A nonce for the slot of `now` (seconds) under the current secret. */
export function issueDpopNonce(secrets: DpopNonceSecrets | Uint8Array, now: number, options: DpopNonceOptions = {}): string {
  const current = secrets instanceof Uint8Array ? secrets : secrets.current;
  checkSecret(current);
  const slot = slotOf(now, options);
  return `${slot}.${toBase64Url(mac(current, slot))}`;
}

/** Whether `nonce` was issued by an instance sharing these secrets, in this slot or the previous one. */
export function checkDpopNonce(nonce: unknown, secrets: DpopNonceSecrets | Uint8Array, now: number, options: DpopNonceOptions = {}): boolean {
  if (typeof nonce !== 'string' || nonce.length > MAX_NONCE_CHARS) return false;
  const match = /^(\d{1,16})\.([A-Za-z0-9_-]{22})$/.exec(nonce);
  if (match === null) return false;
  const slot = Number(match[1]);
  const current = slotOf(now, options);
  if (slot !== current && slot !== current - 1) return false;
  const tag = Buffer.from(match[2]!, 'base64url');
  if (tag.length !== MAC_BYTES) return false;
  const all = secrets instanceof Uint8Array ? [secrets] : [secrets.current, secrets.previous];
  let ok = false;
  for (const secret of all) {
    if (secret === undefined) continue;
    checkSecret(secret);
    // Every candidate secret is tried, so timing says nothing about which one matched.
    ok = timingSafeEqual(mac(secret, slot), tag) || ok;
  }
  return ok;
}
