/**
 * RFC 9203 §3.1/§3.2, the update of access rights: a client that holds an OSCORE security context
 * with a resource server asks for a new token with `req_cnf` = {kid(3): the OSCORE_Input_Material
 * identifier it was given}. The service must have issued that material to this client (§3.1: "The
 * AS MUST verify that the received value identifies a proof-of-possession key that has previously
 * been issued to the requesting client", else invalid_request), for this audience, on a token still
 * live ("valid and authorized", §3.2). The new token then carries cnf {kid(3): id} and the answer
 * no cnf (§3.2): the resource server finds the material by the id, under the context the client
 * posts the token with (device/oscore-endpoint.ts).
 *
 * The material is found among the client's live tokens for the audience (their records keep it
 * sealed for the audience, issuer.ts), newest first and at most MAX_TOKENS_SEARCHED of them, so one
 * request costs the service a bounded number of unsealings whatever the client has asked for.
 */
import { cnfFromMap, constantTimeEqual, decodeCbor, isMap, openEncryptedCoseKey, CNF_LABEL, type CborValue, type CryptoProvider } from '../cose/index.js';
import { invalidRequest } from './errors.js';
import type { AudienceRecord, AuthzStore, ClientRecord, TokenRef } from './store.js';

/** Live tokens of one client for one audience looked at: a client with more renews its context instead. */
const MAX_TOKENS_SEARCHED = 256;
/** RFC 9203 §3.2.1: the id is a short byte string (this service makes 8 bytes). */
const MAX_ID_BYTES = 64;

export interface OscoreRightsUpdate {
  /** The OSCORE_Input_Material identifier: the new token's cnf kid(3). */
  id: Uint8Array;
  /** The material as the original token's record keeps it (sealed for the audience): the new record keeps the same. */
  sealedCnf: Uint8Array;
  /**
   * The hash of the token whose material this is. The new token is linked under it (as an
   * exchanged token is, store.linkExchangedToken): the device moves that token's contexts to the
   * new one (§4.4), so revoking the original must end them too, not leave them on the update.
   */
  updates: TokenRef;
}

/** The kid of a req_cnf that is {kid(3): bstr}, or undefined for any other req_cnf (or none). */
export function requestedMaterialId(reqCnf: CborValue | undefined): Uint8Array | undefined {
  if (!isMap(reqCnf) || reqCnf.size !== 1) return undefined;
  const kid = reqCnf.get(CNF_LABEL.kid);
  if (kid === undefined) return undefined;
  if (!(kid instanceof Uint8Array) || kid.length === 0 || kid.length > MAX_ID_BYTES) throw invalidRequest(`req_cnf(4) kid(3) must be a byte string of 1 to ${MAX_ID_BYTES} bytes (RFC 9203 §3.1)`);
  return kid;
}

export async function findOscoreRightsUpdate(
  ctx: { store: AuthzStore; provider: CryptoProvider; clock: () => number },
  client: ClientRecord,
  audience: AudienceRecord,
  id: Uint8Array,
): Promise<OscoreRightsUpdate> {
  const sealed = await ctx.store.liveTokenConfirmations(client.id, audience.id, Math.floor(ctx.clock()), MAX_TOKENS_SEARCHED);
  for (const { cnf: bytes, token } of sealed) {
    let materialId: Uint8Array | undefined;
    try {
      const cnf = cnfFromMap(decodeCbor(bytes, { maxBytes: 2048, maxDepth: 6 }));
      if (!('encryptedCoseKey' in cnf)) continue;
      materialId = openEncryptedCoseKey(cnf, audience.encKey, { provider: ctx.provider }).kid;
    } catch {
      continue; // a record this audience's key does not open (re-registered since): not this one
    }
    if (materialId !== undefined && constantTimeEqual(materialId, id)) return { id: id.slice(), sealedCnf: bytes, updates: token };
  }
  throw invalidRequest('req_cnf(4) kid(3) names no OSCORE input material this service issued to this client for this audience on a live token (RFC 9203 §3.1): ask without req_cnf for new material');
}
