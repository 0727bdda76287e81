/**
 * Proof of possession at /revoke for public clients (issue 9, finding 11). RFC 7009 §2.1 lets a
 * public client revoke its tokens with no credentials but its client_id, which anybody can name:
 * a thief holding a stolen token could end the victim's grant. Our tokens are bound to a key
 * (cnf, RFC 8747), so a public client proves possession of that key, as it does at a device:
 *
 *   pop_proof = the PoP proof of DESIGN.md ("PoP proof", device/pop-proof.ts), a COSE_Sign1 (or
 *   COSE_Mac0 for a symmetric cnf key) by the token's cnf key over
 *     purpose(1)   "revoke"
 *     audience(2)  the service's issuer (as in its metadata)
 *     token hash(3) SHA-256 of the token as the service records it: tokenHash() of an access
 *                  token (the /trl hash), SHA-256 of a refresh token's UTF-8 text
 *     iat(5) + jti(6) fresh (±DEFAULT_IAT_WINDOW s); each jti is accepted once (kept in the store)
 *     client id(10) the client_id
 *
 * The key: the cnf's COSE_Key, or the symmetric key sealed for the audience (Encrypted_COSE_Key,
 * opened with the audience's key the service holds). A refresh token bound to the client's
 * req_cnf key takes a proof by that key; one bound to no key is a bearer secret, whose
 * presentation is all the possession there is (and which a thief could use, not just revoke).
 */
import { cnfFromMap, decodeCbor, fromHex, openEncryptedCoseKey, toHex, type CoseKey } from '../cose/index.js';
import { DEFAULT_IAT_WINDOW, DeviceError, verifyPopProof } from '../device/index.js';
import { AuthzError } from './errors.js';
import type { TokenContext } from './token-endpoint.js';

export const PURPOSE_REVOKE = 'revoke';
/** The request parameter that carries the proof (bytes: raw in CBOR, base64url in JSON and form). */
export const REVOKE_PROOF_PARAM = 'pop_proof';
/** A jti is remembered as long as its iat can be accepted: the window either side of now. */
const JTI_MEMORY_S = 2 * DEFAULT_IAT_WINDOW;

function refused(description: string, cause?: unknown): AuthzError {
  return new AuthzError('invalid_request', description, cause === undefined ? {} : { cause });
}

export interface RevocationProofInput {
  proof: Uint8Array | undefined;
  /** The stored hash of the token being revoked (hex): what token hash(3) must be. */
  tokenHash: string;
  /** The cnf map the token is bound to, as CBOR (an access token's cnf, a refresh token's req_cnf). */
  cnf: Uint8Array | undefined;
  audience: string;
  clientId: string;
}

async function popKeyOf(ctx: TokenContext, cnfBytes: Uint8Array | undefined, audienceId: string): Promise<CoseKey> {
  if (!cnfBytes) throw refused('this token is bound to no key the service knows');
  const audience = await ctx.store.getAudience(audienceId);
  try {
    const cnf = cnfFromMap(decodeCbor(cnfBytes, { maxBytes: 2048, maxDepth: 6 }));
    if ('coseKey' in cnf) return cnf.coseKey;
    if ('encryptedCoseKey' in cnf && audience) return openEncryptedCoseKey(cnf, audience.encKey, { provider: ctx.provider });
  } catch (cause) {
    // A record the service wrote; if it no longer reads (a rotated audience key), nobody can prove.
    throw refused('the token\'s key cannot be recovered', cause);
  }
  throw refused('this token is bound to a key the service does not hold');
}

/** Throws invalid_request unless `proof` shows possession of the token's key, fresh and unused. */
export async function checkRevocationProof(ctx: TokenContext, input: RevocationProofInput): Promise<void> {
  if (!input.proof) throw refused(`a public client proves possession of the token's key (${REVOKE_PROOF_PARAM})`);
  const key = await popKeyOf(ctx, input.cnf, input.audience);
  let freshness;
  try {
    // iat + jti only: the service issues no nonces for /revoke.
    ({ freshness } = verifyPopProof(
      input.proof,
      key,
      { purpose: PURPOSE_REVOKE, audience: ctx.issuer, tokenHash: fromHex(input.tokenHash), clientId: input.clientId },
      { clock: ctx.clock, nonce: false },
      { provider: ctx.provider },
    ));
  } catch (e) {
    if (e instanceof DeviceError) throw refused('the proof of possession does not verify, or is not fresh', e);
    throw e;
  }
  if (freshness.kind !== 'iat') throw refused('the proof must carry iat(5) and jti(6)');
  // The jti is claimed in the store, shared by every instance of the service and kept across
  // restarts, and only after the proof verified: a forger can neither burn jti values nor fill it.
  const seen = await ctx.store.hitRateLimit(`revoke-jti:${input.tokenHash}:${toHex(freshness.jti)}`, Math.floor(ctx.clock()), JTI_MEMORY_S);
  if (seen > 1) throw refused('the proof of possession was already used');
}
