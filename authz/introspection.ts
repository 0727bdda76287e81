/**
 * Introspection (RFC 7662; RFC 9200 §5.9 for the CBOR form with active 10) and revocation
 * (RFC 7009), both for authenticated callers only. The caller must be a registered client;
 * a resource server learns only about tokens for audiences it is registered for (its client
 * record's audiences), so a client cannot probe other audiences' tokens.
 */
import { decodeCbor, toHex, tokenHash, type CborValue } from '../cose/index.js';
import { bytesParam, type Params, type ResponseValue } from './ace-params.js';
import { authenticateClient } from './client-auth.js';
import { invalidRequest } from './errors.js';
import { scopeWireValue } from './scope-forms.js';
import type { TokenContext } from './token-endpoint.js';

export async function handleIntrospection(ctx: TokenContext, params: Params, authorization: string | undefined): Promise<Record<string, ResponseValue | undefined>> {
  const { client } = await authenticateClient(ctx, params, authorization, { allowPublic: false });
  const token = bytesParam(params, 'token');
  if (!token || token.length === 0) throw invalidRequest('parameter token is missing');
  const record = await ctx.store.getTokenByHash(toHex(tokenHash(token, ctx.provider)));
  const now = ctx.clock();
  // RFC 7662 §2.2: anything not active is just { active: false }, with no reason given.
  if (!record || record.revoked || record.expiresAt <= now || !client.audiences.includes(record.audience)) return { active: false };
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
    token_type: 'PoP',
    cnf: record.cnf ? (decodeCbor(record.cnf, { maxBytes: 2048, maxDepth: 6 }) as CborValue) : undefined,
  };
}

function fromHexBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** Returns the audience whose revocation list changed, if any. */
export async function handleRevocation(ctx: TokenContext, params: Params, authorization: string | undefined): Promise<string | undefined> {
  const { client } = await authenticateClient(ctx, params, authorization, { allowPublic: true });
  const token = bytesParam(params, 'token');
  if (!token || token.length === 0) throw invalidRequest('parameter token is missing');
  const hash = toHex(tokenHash(token, ctx.provider));
  const record = await ctx.store.getTokenByHash(hash);
  // RFC 7009 §2.2: an unknown token, or another client's, gets 200 all the same (no oracle).
  if (!record || record.clientId !== client.id) return undefined;
  return (await ctx.store.revokeToken(hash)) ? record.audience : undefined;
}
