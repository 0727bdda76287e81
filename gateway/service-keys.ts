/**
 * The service's signing keys as COSE keys for CWT access tokens, read from its /jwks.json and
 * read again when older than `maxAgeS` (the service rotates keys, authz rotate-key). A failed read
 * keeps the keys already held; with none, tokens are refused (fail closed).
 */
import type { CoseKey } from '../cose/index.js';
import { coseKeysFromJwks } from './cwt-access-token.js';

const MAX_JWKS_BYTES = 64 * 1024;

export function remoteServiceKeys(jwksUrl: string, maxAgeS = 300, clock: () => number = () => Date.now() / 1000): () => Promise<readonly CoseKey[]> {
  let held: readonly CoseKey[] = [];
  let readAt = -Infinity;
  let reading: Promise<void> | undefined;
  const read = async (): Promise<void> => {
    try {
      const r = await fetch(jwksUrl, { signal: AbortSignal.timeout(5000), redirect: 'error' });
      const text = await r.text();
      if (r.status === 200 && text.length <= MAX_JWKS_BYTES) held = coseKeysFromJwks(JSON.parse(text));
    } catch {
      // Keep what we hold; the next request tries again after maxAgeS.
    } finally {
      readAt = clock();
    }
  };
  return async () => {
    if (clock() - readAt > maxAgeS) {
      reading ??= read().finally(() => (reading = undefined));
      await reading;
    }
    return held;
  };
}
