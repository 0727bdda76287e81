/**
 * A token's hash (cose tokenHash: SHA-256 over its canonical bytes) remembered by its exact
 * bytes (issue 13). A device reconnects with the same token again and again, and the canonical
 * form costs a decode, a re-encode and a digest each time; a new token was even hashed twice (to
 * look in the verified-token cache, then to accept it). The hash is a function of the bytes, so
 * the memo changes no answer, only its cost. Bounded in bytes, each entry charged its key and
 * its overhead, oldest out first, so a flood of junk CONNECTs (hashed before anything is checked)
 * only churns it; tokens past MAX_MEMO_TOKEN_BYTES are hashed every time.
 */
import { tokenHash, type CryptoProvider } from '../cose/index.js';

/** Far above a CWT with a COSE_Key cnf (~200-300 bytes); larger tokens are not remembered. */
export const MAX_MEMO_TOKEN_BYTES = 1024;
/** What the memo may hold in all, counted as below: ~12,000 typical tokens, or ~18,000 junk ones. */
export const MAX_MEMO_BYTES = 8 * 1024 * 1024;
/**
 * What an entry costs beyond its key's bytes (the Map entry, the string's header, the hash and its
 * ArrayBuffer), 370-410 bytes measured on Node 20: charged per entry, so a flood of tiny junk
 * tokens is bounded like one of real ones.
 */
export const MEMO_ENTRY_OVERHEAD = 448;

export function memoizedTokenHash(provider: CryptoProvider, maxBytes = MAX_MEMO_BYTES): (token: Uint8Array) => Uint8Array {
  const memo = new Map<string, Uint8Array>();
  let held = 0;
  return (token) => {
    if (token.length > MAX_MEMO_TOKEN_BYTES) return tokenHash(token, provider);
    // One char per byte: an exact, collision-free key, cheaper to make than a digest.
    const key = Buffer.from(token.buffer, token.byteOffset, token.length).toString('latin1');
    let hash = memo.get(key);
    if (!hash) {
      // Hashed from the key's own bytes, not `token` again: an input whose contents change between
      // two reads (a SharedArrayBuffer another thread writes) must not file one hash under other bytes.
      hash = tokenHash(Buffer.from(key, 'latin1'), provider);
      const cost = key.length + MEMO_ENTRY_OVERHEAD;
      while (held + cost > maxBytes && memo.size > 0) {
        const oldest = memo.keys().next().value!;
        memo.delete(oldest);
        held -= oldest.length + MEMO_ENTRY_OVERHEAD;
      }
      memo.set(key, hash);
      held += cost;
    }
    // A copy: whoever gets it may keep or change it; the memo's own stays as it was computed.
    return hash.slice();
  };
}
