/**
 * `--dpop-nonce-secret-file`: the secret every instance of the service shares to make and check
 * DPoP server nonces without a shared store (RFC 9449 §8; sender-constraint/dpop-nonce.ts). The
 * file holds one secret per line: the current one, then optionally the previous one. To rotate,
 * write the new secret first and the old one second on every instance (a nonce made under either
 * is accepted); drop the old line after two nonce slots. The file is read again at most every few
 * seconds, so a rotation needs no restart; a file that cannot be read keeps the last good secrets.
 */
import { MIN_NONCE_SECRET_BYTES, type DpopNonceSecrets } from '../sender-constraint/index.js';
import { MAX_SECRET_FILE_BYTES, readableByOthers, readOptionFile } from './option-file.js';
import { UsageError } from './usage-error.js';

/** How stale the secrets in memory may be after the file changed. */
export const NONCE_SECRET_REREAD_MS = 5_000;

function parseSecrets(bytes: Uint8Array, what: string): DpopNonceSecrets {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError(`${what} is not UTF-8 text`);
  }
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length === 0 || lines.length > 2) throw new UsageError(`${what} must hold one secret per line: the current one, then optionally the previous one`);
  const secrets = lines.map((l) => new TextEncoder().encode(l));
  for (const s of secrets) if (s.length < MIN_NONCE_SECRET_BYTES) throw new UsageError(`${what}: each secret must be at least ${MIN_NONCE_SECRET_BYTES} bytes (e.g. openssl rand -hex 32)`);
  return secrets.length === 2 ? { current: secrets[0]!, previous: secrets[1]! } : { current: secrets[0]! };
}

/**
 * What a re-read found wrong, for the operator's log: the file was refused (the last good secrets
 * stay in use, so a rotation away from a leaked secret did NOT happen), or it is now readable by
 * other users. `detail` names the option and the path, never the content.
 */
export type NonceSecretFileWarning = (event: 'dpop_nonce_secret_file_refused' | 'secret_file_readable', detail: string) => void;

/** Reads the file now (a bad file is a UsageError at start) and returns the secrets' source for the service. */
export function nonceSecretsFromFile(file: string, what = '--dpop-nonce-secret-file', now: () => number = () => performance.now(), warn?: NonceSecretFileWarning): () => DpopNonceSecrets {
  let secrets = parseSecrets(readOptionFile(file, what, MAX_SECRET_FILE_BYTES), what);
  let readAt = now();
  return () => {
    if (now() - readAt >= NONCE_SECRET_REREAD_MS) {
      readAt = now();
      try {
        secrets = parseSecrets(readOptionFile(file, what, MAX_SECRET_FILE_BYTES), what);
        if (readableByOthers(file)) warn?.('secret_file_readable', `${what} is readable by other users of this machine (chmod 600 it)`);
      } catch (e) {
        // Mid-rewrite or removed: keep serving with the last good secrets, and say so: an operator
        // rotating away from a leaked secret must learn that the rotation did not take.
        warn?.('dpop_nonce_secret_file_refused', `${e instanceof UsageError ? e.message : what} (still using the last good secrets)`);
      }
    }
    return secrets;
  };
}
