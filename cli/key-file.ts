/**
 * Key files as the CLI reads them: one COSE_Key (CBOR, or its hex) or one JWK (JSON); for
 * verification also the key sets the service publishes (`/keys`, a COSE_KeySet; `/jwks.json`, a
 * JWK Set) and a provisioning bundle. Errors never quote a file's content: it may hold a private
 * key.
 */
import { readOptionFile } from './option-file.js';
import { statSync } from 'node:fs';
import { CoseError, decodeCoseKey, fromHex, fromUtf8, jwkToCoseKey, publicCoseKey, type CoseKey, type Jwk } from '../cose/index.js';
import { trustFromBytes } from '../broker/index.js';

/** A key file holds one COSE_Key or JWK: a few hundred bytes; a key set or bundle a few KB. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

export class KeyFileError extends Error {
  readonly code = 'ERR_CLI_KEY_FILE';
}

/** A regular file of at most `max` bytes (option-file.ts: never a FIFO or a device that never ends). */
export function readBoundedFile(path: string, max: number, what: string): Uint8Array {
  try {
    return readOptionFile(path, what, max);
  } catch (e) {
    throw new KeyFileError((e as Error).message);
  }
}

function textOf(bytes: Uint8Array): string | undefined {
  try {
    return fromUtf8(bytes).trim();
  } catch {
    return undefined;
  }
}

/** One COSE_Key or JWK, as the file holds it (private part included). */
export function parseKeyBytes(bytes: Uint8Array, what = 'key file'): CoseKey {
  const text = textOf(bytes);
  try {
    if (text?.startsWith('{')) {
      let jwk: Jwk;
      try {
        jwk = JSON.parse(text) as Jwk;
      } catch {
        // JSON.parse's message quotes the text around the error, which may be key material.
        throw new KeyFileError(`${what}: the file is not valid JSON`);
      }
      return jwkToCoseKey(jwk);
    }
    if (text !== undefined && /^([0-9a-fA-F]{2})+$/.test(text)) return decodeCoseKey(fromHex(text));
    return decodeCoseKey(bytes);
  } catch (e) {
    if (e instanceof KeyFileError) throw e;
    const detail = e instanceof CoseError ? `${e.code}: ${e.message}` : 'unreadable';
    throw new KeyFileError(`${what}: not a COSE_Key or JWK (${detail})`);
  }
}

/** A public key (or a symmetric key, which is the key) for checking a signature or MAC. */
export function readKeyFile(path: string): CoseKey {
  const key = parseKeyBytes(readBoundedFile(path, MAX_KEY_FILE_BYTES, 'key file'), '--key');
  return key.kty === 'Symmetric' ? key : publicCoseKey(key);
}

/**
 * A private key (a PoP key): it must hold `d` (or be symmetric), and, as ssh does, the file must not
 * be readable by group or others: a key others can read proves nothing about who holds it.
 */
export function readPrivateKeyFile(path: string, option: string): CoseKey {
  const bytes = readBoundedFile(path, MAX_KEY_FILE_BYTES, `${option} file`);
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) throw new KeyFileError(`${option} ${JSON.stringify(path)} is readable by others (mode 0${mode.toString(8)}): chmod 600 it`);
  const key = parseKeyBytes(bytes, option);
  if (key.kty !== 'Symmetric' && !key.d) throw new KeyFileError(`${option} ${JSON.stringify(path)} holds a public key only; the private key is needed`);
  return key;
}

/**
 * Keys to verify a token with: one COSE_Key or JWK, the service's `/keys` or `/jwks.json` saved to a
 * file, or a provisioning bundle (its trust anchors). The caller picks among them by kid.
 */
export function readVerificationKeys(path: string, now: number): CoseKey[] {
  const bytes = readBoundedFile(path, MAX_KEY_FILE_BYTES, 'key file');
  let single: CoseKey;
  try {
    single = parseKeyBytes(bytes, '--key');
  } catch (first) {
    if (first instanceof KeyFileError && first.message.endsWith('not valid JSON')) throw first;
    let trust;
    try {
      trust = trustFromBytes(bytes, now);
    } catch (e) {
      const code = (e as { cause?: { code?: string }; code?: string }).cause?.code ?? (e as { code?: string }).code ?? 'unreadable';
      throw new KeyFileError(`${(first as Error).message}, nor a COSE_KeySet (/keys), JWK Set (/jwks.json) or provisioning bundle (${code})`);
    }
    if (trust instanceof Uint8Array) throw new KeyFileError('--key: an unexpected trust file form');
    return 'trustAnchors' in trust ? trust.trustAnchors : [...trust];
  }
  return [single.kty === 'Symmetric' ? single : publicCoseKey(single)];
}
