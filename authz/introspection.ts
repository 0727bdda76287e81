/**
 * Introspection (RFC 7662; RFC 9200 §5.9 for the CBOR form with active 10) and revocation
 * (RFC 7009), both for authenticated callers only (at /revoke a public client proves possession
 * of the token's key instead, revocation-proof.ts). Introspection answers only a resource server
 * (client record with resourceServer) registered for the token's audience (RFC 7662 §4): a client
 * that merely may ask for tokens there learns nothing about other clients' tokens.
 */
import { decodeCbor, toBase64Url, type CborValue } from '../cose/index.js';
import { tokenName } from './token-name.js';
import { POP_TOKEN_TYPE, bytesParam, type Params, type ResponseValue } from './ace-params.js';
import { authenticateClient } from './client-auth.js';
import { invalidRequest } from './errors.js';
import { scopeWireValue } from './scope-forms.js';
import { checkRevocationProof, REVOKE_PROOF_PARAM } from './revocation-proof.js';
import { lookupHash } from './secret-hash.js';
import type { TokenContext } from './token-endpoint.js';
import { X5T_S256 } from '../sender-constraint/index.js';
import { CERTIFICATE_BOUND_TOKEN_TYPE } from './certificate-bound-token.js';
import { DPOP_TOKEN_TYPE } from './dpop-binding.js';

export async function handleIntrospection(ctx: TokenContext, params: Params, authorization: string | undefined): Promise<Record<string, ResponseValue | undefined>> {
  const { client } = await authenticateClient(ctx, params, authorization, { allowPublic: false });
  const token = bytesParam(params, 'token');
  if (!token || token.length === 0) throw invalidRequest('parameter token is missing');
  const record = await ctx.store.getTokenByHash(...tokenName(ctx, token));
  const now = ctx.clock();
  // RFC 7662 §2.2: anything not active is just { active: false }, with no reason given; so is a
  // token the caller is not a resource server for (§4: no sub or scope for token scanners).
  const mayIntrospect = client.resourceServer && client.audiences.includes(record?.audience ?? '');
  if (!record || record.revoked || record.expiresAt <= now || !mayIntrospect) return { active: false };
  return {
    active: true,
    scope: scopeWireValue(record.scope),
    client_id: record.clientId,
    sub: record.subject,
    aud: record.audience,
    iss: ctx.issuer,
    exp: record.expiresAt,
    iat: record.issuedAt,
    cti: fromHexBytes(record.cti),
    ...tokenTypeAndCnf(record.cnf),
  };
}

/**
 * A certificate-bound token is Bearer with cnf x5t#S256 (RFC 8705 §3.2); a DPoP-bound one is DPoP
 * with cnf jkt (RFC 9449 §6.2, as a resource server that introspects expects); otherwise PoP.
 */
function tokenTypeAndCnf(stored: Uint8Array | undefined): { token_type: string; cnf?: CborValue } {
  const cnf = stored ? (decodeCbor(stored, { maxBytes: 2048, maxDepth: 6 }) as CborValue) : undefined;
  if (cnf instanceof Map && cnf.has(X5T_S256)) return { token_type: CERTIFICATE_BOUND_TOKEN_TYPE, cnf };
  if (cnf instanceof Map && typeof cnf.get('jkt') === 'string') return { token_type: DPOP_TOKEN_TYPE, cnf };
  // "PoP" in JSON, 2 in CBOR (ace-params.ts encodeResponse).
  return { token_type: POP_TOKEN_TYPE, ...(cnf !== undefined ? { cnf } : {}) };
}

function fromHexBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/**
 * Returns the audiences whose revocation lists changed (none, one, a token's exchanges, or a grant
 * family's). A public client also proves possession of the token's key (revocation-proof.ts).
 */
export async function handleRevocation(ctx: TokenContext, params: Params, authorization: string | undefined): Promise<string[]> {
  const { client, method } = await authenticateClient(ctx, params, authorization, { allowPublic: true });
  const token = bytesParam(params, 'token');
  if (!token || token.length === 0) throw invalidRequest('parameter token is missing');
  const proof = bytesParam(params, REVOKE_PROOF_PARAM);
  const mustProve = method === 'none';
  const [hash, cti] = tokenName(ctx, token);
  const record = await ctx.store.getTokenByHash(hash, cti);
  // RFC 7009 §2.2: an unknown token, or another client's, gets 200 all the same (no oracle).
  if (record) {
    if (record.clientId !== client.id) return [];
    if (mustProve) await checkRevocationProof(ctx, { proof, tokenHash: hash, cnf: record.cnf, audience: record.audience, clientId: client.id });
    return ctx.store.revokeToken(hash, cti);
  }
  // RFC 7009 §2: refresh tokens are revocable too (token_type_hint is optional, so look there as
  // well), and §2.1: revoking one SHOULD end the access tokens of its grant, so the whole family goes.
  // A refresh token is text: JSON and form decoded it as base64url (token is a byte parameter), so
  // re-encode; CBOR carries its UTF-8 bytes.
  for (const candidate of [lookupHash(toBase64Url(token)), lookupHash(token)]) {
    const refresh = await ctx.store.getRefreshToken(candidate);
    if (!refresh) continue;
    if (refresh.clientId !== client.id) return [];
    // Bound to the client's req_cnf key: prove it. Bound to none: a bearer secret (revocation-proof.ts).
    if (mustProve && refresh.reqCnf) await checkRevocationProof(ctx, { proof, tokenHash: candidate, cnf: refresh.reqCnf, audience: refresh.audience, clientId: client.id });
    return ctx.store.revokeFamily(refresh.family, Math.floor(ctx.clock()));
  }
  return [];
}
