/**
 * Reads the COSE WG examples (public domain) from test/vectors/cose-wg, copied there from
 * github.com/cose-wg/Examples so that the tests travel with the project (see its README).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromBase64Url, fromHex, utf8, type CoseKey, type Curve } from '../../cose/index.js';

export const VECTOR_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', 'vectors', 'cose-wg');

export interface VectorFile {
  file: string;
  json: any;
}

export function vectorFiles(folder: string): VectorFile[] {
  const dir = join(VECTOR_ROOT, folder);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: `${folder}/${f}`, json: JSON.parse(readFileSync(join(dir, f), 'utf8')) }));
}

function field(obj: any, name: string): Uint8Array | undefined {
  if (obj[`${name}_hex`] !== undefined) return fromHex(obj[`${name}_hex`]);
  if (obj[name] !== undefined) return fromBase64Url(obj[name]);
  return undefined;
}

/** A vector's JWK-like key as a COSE_Key. */
export function vectorKey(k: any): CoseKey {
  const kid = k.kid !== undefined ? utf8(k.kid) : undefined;
  if (k.kty === 'oct') return { kty: 'Symmetric', k: field(k, 'k')!, ...(kid ? { kid } : {}) };
  const crv = k.crv as Curve;
  const key: CoseKey = { kty: k.kty === 'OKP' ? 'OKP' : 'EC2', crv, x: field(k, 'x')! };
  const y = field(k, 'y');
  const d = field(k, 'd');
  if (y) key.y = y;
  if (d) key.d = d;
  if (kid) key.kid = kid;
  return key;
}

export function plaintextOf(input: any): Uint8Array {
  return input.plaintext_hex !== undefined ? fromHex(input.plaintext_hex) : utf8(input.plaintext ?? '');
}

/** The COSE WG files name algorithms their own way; map to COSE identifiers. */
export const VECTOR_ALG: Record<string, number> = {
  EdDSA: -8,
  ES256: -7,
  ES384: -35,
  ES512: -36,
  'HS256/64': 4,
  HS256: 5,
  HS384: 6,
  HS512: 7,
  A128GCM: 1,
  A192GCM: 2,
  A256GCM: 3,
  'AES-CCM-16-128/64': 10,
  'AES-CCM-16-256/64': 11,
  'AES-CCM-64-128/64': 12,
  'AES-CCM-64-256/64': 13,
  'AES-CCM-16-128/128': 30,
  'AES-CCM-16-256/128': 31,
  'AES-CCM-64-128/128': 32,
  'AES-CCM-64-256/128': 33,
  'ChaCha-Poly1305': 24,
};
