/**
 * `keybound authz revoke`: an operator revokes tokens by cti, by the token itself, or every live
 * token of a client, on the service's own store (the running service need not be asked: its
 * revocation lists are read from the store at every GET /trl/<aud>, which the brokers poll and
 * relay retained on ace/trl/<aud>, draft-ietf-ace-revoked-token-notification).
 * The whole selection is resolved before anything is revoked: one unknown cti revokes nothing.
 */
import { fromBase64Url, fromHex, fromUtf8 } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { RegistryError } from './registry.js';
import type { AuthzStore } from './store.js';
import { tokenName } from './token-name.js';

/** A token file holds one token: a few KB at most (an Encrypt0-wrapped CWT is well under 2 KB). */
export const MAX_TOKEN_FILE_BYTES = 16 * 1024;
/** An operator names a handful of tokens or clients at once; a longer list is a script's job. */
export const MAX_REVOKE_SELECTION = 256;

export interface RevokeSelection {
  /** Token ids (cti, RFC 8392 §3.1.7), hex as the service records them. */
  ctis?: readonly string[];
  /** Tokens as their file holds them: raw CBOR bytes, or base64url or hex text. */
  tokens?: readonly Uint8Array[];
  /** Client ids: each one's live tokens. */
  clients?: readonly string[];
}

export interface RevokeResult {
  /** Distinct token hashes selected (hex). */
  selected: number;
  /** Audiences whose revocation list changed (their sequence rose). */
  audiences: string[];
}

/** A token file's bytes: CBOR as is (it starts with a tag or array byte), else base64url or hex text. */
export function tokenFromFile(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 0 || bytes.length > MAX_TOKEN_FILE_BYTES) throw new RegistryError(`a token file holds 1 to ${MAX_TOKEN_FILE_BYTES} bytes`);
  // CBOR major types 4 (array), 6 (tag), 2 (byte string: a reference handle): 0x80-0x9f, 0xc0-0xdf, 0x40-0x5f.
  const first = bytes[0]!;
  if ((first >= 0x80 && first <= 0x9f) || (first >= 0xc0 && first <= 0xdf) || (first >= 0x40 && first <= 0x5f)) return bytes;
  let text: string;
  try {
    text = fromUtf8(bytes).trim();
  } catch {
    throw new RegistryError('a token file holds the token as CBOR, base64url or hex');
  }
  if (/^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0) return fromHex(text.toLowerCase());
  if (/^[A-Za-z0-9_-]+$/.test(text)) return fromBase64Url(text);
  throw new RegistryError('a token file holds the token as CBOR, base64url or hex');
}

const bounded = (text: string) => JSON.stringify(text.slice(0, 64));

export async function revokeSelection(store: AuthzStore, selection: RevokeSelection, now: number): Promise<RevokeResult> {
  const ctis = selection.ctis ?? [];
  const tokens = selection.tokens ?? [];
  const clients = selection.clients ?? [];
  const count = ctis.length + tokens.length + clients.length;
  if (count === 0) throw new RegistryError('name what to revoke: a cti, a token file or a client');
  if (count > MAX_REVOKE_SELECTION) throw new RegistryError(`at most ${MAX_REVOKE_SELECTION} ctis, tokens and clients at once`);
  // By hash, each with the cti it shows where it has one (store.ts ctiInToken).
  const named = new Map<string, string | undefined>();
  for (const cti of ctis) {
    if (!/^[0-9a-fA-F]{2,128}$/.test(cti)) throw new RegistryError(`cti ${bounded(cti)} is not hex`);
    const hash = await store.tokenHashByCti(cti.toLowerCase());
    if (!hash) throw new RegistryError(`no token with cti ${bounded(cti)} was issued here`);
    named.set(hash, cti.toLowerCase());
  }
  for (const token of tokens) {
    const [hash, cti] = tokenName({ provider: nativeProvider }, token);
    // Never the token in the message: a hash prefix is enough to find it in the service's records.
    if (!(await store.getTokenByHash(hash, cti))) throw new RegistryError(`the token with hash ${hash.slice(0, 16)}... was not issued here`);
    named.set(hash, cti);
  }
  for (const client of clients) {
    if (!(await store.getClient(client))) throw new RegistryError(`no client ${bounded(client)} is registered`);
    for (const t of await store.liveTokens(client, now)) named.set(t.tokenHash, t.cti);
  }
  const audiences = new Set<string>();
  // Each revocation is one transaction with its exchanged tokens (store.revokeToken).
  for (const [hash, cti] of named) for (const aud of await store.revokeToken(hash, cti)) audiences.add(aud);
  return { selected: named.size, audiences: [...audiences].sort() };
}
