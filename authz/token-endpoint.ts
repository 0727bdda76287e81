/**
 * The token endpoint's logic (RFC 6749 §3.2, RFC 9200 §5.8), free of HTTP: given decoded
 * parameters and the Authorization header, decide the grant and return the response fields.
 * Grants: client_credentials, authorization_code (+ PKCE S256), refresh_token (rotation with
 * reuse detection), token exchange (RFC 8693), device_code (RFC 8628).
 */
import {
  GRANT_DEVICE_CODE,
  GRANT_TOKEN_EXCHANGE,
  MAX_CNONCE_BYTES,
  TOKEN_TYPE_ACCESS,
  TOKEN_TYPE_CWT,
  CNF_LABEL,
  ACE_PROFILE,
  DEFAULT_ACE_PROFILE,
  constantTimeEqual,
  decodeCbor,
  encodeCbor,
  toHex,
  tokenHash,
  verifyCwt,
  type CborValue,
  type CoseKey,
  type ParsedHeaders,
  type Scope,
  type Jwk,
} from '../cose/index.js';
import { AuthzError, invalidGrant, invalidRequest, invalidTarget, unsupportedGrantType } from './errors.js';
import { POP_TOKEN_TYPE, bytesParam, cnfParam, requireText, scopeParam, textParam, type Params, type ResponseValue } from './ace-params.js';
import { authenticateClient, type AuthenticatedClient, type ClientAuthContext } from './client-auth.js';
import { checkPopBinding, issueAccessToken, parseReqCnf, type IssuedToken, type IssueRequest, type IssuerContext } from './issuer.js';
import { requestedMaterialId } from './oscore-access-rights-update.js';
import { assertExchangeAllowed, assertGrantAllowed, assertWithin, decideExchangeScope, decideScope, resolveAudience } from './policy.js';
import { scopeFromRequest, scopeFromStored, scopeToStored, scopeWireValue } from './scope-forms.js';
import { IssuanceBudget, type IssuanceLimit } from './issuance-budget.js';
import { verifyPkce } from './pkce.js';
import { checkFapi2ClientAuth, checkFapi2SenderConstraint, type ServiceProfile } from './fapi2-profile.js';
import { lookupHash } from './secret-hash.js';
import type { AudienceRecord, ClientRecord, GrantType, TokenRef } from './store.js';
import { tokenName } from './token-name.js';
import type { DpopProof } from '../sender-constraint/index.js';
import { DPOP_TOKEN_TYPE, recordDpopProofUse, type DpopSettings } from './dpop-binding.js';

/** Refresh tokens outlive access tokens by far; 30 days, then the user signs in again. */
export const REFRESH_TOKEN_LIFETIME = 30 * 24 * 3600;
/** RFC 8628 §3.5: slow_down adds 5 seconds to the polling interval. */
const SLOW_DOWN_STEP = 5;

export interface TokenContext extends IssuerContext, ClientAuthContext {
  /** Told which audiences' revocation lists changed (the server publishes them; the broker relays). */
  onRevoked?: (audiences: string[]) => void | Promise<void>;
  /** Tokens per client id per window (issuance-budget.ts); DEFAULT_ISSUANCE_LIMIT when absent. */
  issuanceLimit?: IssuanceLimit;
  /** `fapi2`: the FAPI 2.0 Security Profile's requirements (fapi2-profile.ts). */
  profile?: ServiceProfile;
  /** DPoP (RFC 9449): nonces, iat window, algorithms (dpop-binding.ts). */
  dpop?: DpopSettings;
}

/** One request's context: the service's, and this request's claim on its client's issuance budget. */
interface GrantContext extends TokenContext {
  budget: IssuanceBudget;
  /** The request's DPoP proof, already checked (dpop-binding.ts checkDpopAtEndpoint). */
  proof?: DpopProof;
}

/**
 * The key a token is bound to: the DPoP proof's (RFC 9449 §5) or req_cnf's (RFC 9201 §3.1), never
 * both: two keys for one token would leave the resource server to pick.
 */
function popBinding(ctx: GrantContext, reqCnf: CborValue | undefined): { reqCnf?: CborValue; dpop?: { jkt: string; jwk: Jwk } } {
  if (!ctx.proof) return reqCnf === undefined ? {} : { reqCnf };
  if (reqCnf !== undefined) throw invalidRequest('req_cnf and a DPoP proof name two keys: bind the token with one of them');
  return { dpop: { jkt: ctx.proof.jkt, jwk: ctx.proof.jwk as Jwk } };
}

/**
 * RFC 9449 §11.1: the request's proof enters the replay record when its grant takes from the
 * client's budget: the client is known (authenticated, or a public client's grant found), and
 * nothing is consumed or issued yet (dpop-binding.ts recordDpopProofUse).
 */
async function recordProof(ctx: GrantContext): Promise<void> {
  if (ctx.proof) await recordDpopProofUse(ctx, ctx.proof);
}

/** RFC 9449 §5: a public client's refresh token is bound to its DPoP key (a confidential client's, to its authentication). */
function refreshBinding(ctx: GrantContext, method: string): { dpopJkt?: string } {
  return ctx.proof && method === 'none' ? { dpopJkt: ctx.proof.jkt } : {};
}

export type TokenResponse = Record<string, ResponseValue | undefined>;

function responseOf(issued: IssuedToken, requested: Scope | undefined, extra: TokenResponse = {}): TokenResponse {
  return {
    access_token: issued.accessToken,
    // RFC 9200 §5.8.2: "PoP" in JSON; encodeResponse writes 2 in CBOR (§8.7). RFC 9449 §5: DPoP.
    // A certificate-bound JWT is Bearer (RFC 8705 §3).
    token_type: issued.dpop ? DPOP_TOKEN_TYPE : (issued.tokenType ?? POP_TOKEN_TYPE),
    expires_in: issued.expiresIn,
    cnf: issued.cnf,
    rs_cnf: issued.rsCnf,
    // RFC 6749 §5.1: scope is returned when it differs from the request (or none was asked for).
    scope: requested === undefined || scopeToStored(requested) !== issued.scope ? scopeWireValue(issued.scope) : undefined,
    // Dropped again by profileShown unless the client asked or it is not the default.
    ace_profile: issued.aceProfile,
    ...extra,
  };
}

/** RFC 9203 §3.2: a token bound to OSCORE_Input_Material signals "OSCORE is REQUIRED" by naming its profile. */
function requiresProfile(response: TokenResponse): boolean {
  const cnf = response.cnf;
  return cnf instanceof Map && cnf.has(CNF_LABEL.osc);
}

/**
 * RFC 9200 §5.8.4.3: ace_profile is in the response when the request had ace_profile (null: "which
 * profile?", §5.8.1), and keybound names it too whenever the audience's profile is not the default
 * one, so a client that assumed the default learns otherwise before it talks to the RS.
 */
function profileShown(response: TokenResponse, asked: boolean): TokenResponse {
  if (asked || response.ace_profile !== DEFAULT_ACE_PROFILE || requiresProfile(response)) return response;
  const { ace_profile: _shown, ...rest } = response;
  return rest;
}

/** The requested scope: text, or AIF (CBOR array, JSON array, or JSON text in form encoding; see scope-forms.ts). */
export function requestedScope(params: Params): Scope | undefined {
  const s = scopeParam(params);
  return s === undefined ? undefined : scopeFromRequest(s, { textMayBeJson: false });
}

/** `proof`: the request's DPoP proof, checked for /token (dpop-binding.ts); the token is then bound to its key. */
export async function handleTokenRequest(service: TokenContext, params: Params, authorization: string | undefined, proof?: DpopProof): Promise<TokenResponse> {
  return profileShown(await grantResponse(service, params, authorization, proof), params.has('ace_profile'));
}

async function grantResponse(service: TokenContext, params: Params, authorization: string | undefined, proof: DpopProof | undefined): Promise<TokenResponse> {
  // RFC 9200 §5.8.1: grant_type is OPTIONAL in ACE; without it the client credentials grant is
  // meant (the figures' requests, and conformant client libraries, leave it out).
  const grant = textParam(params, 'grant_type') ?? 'client_credentials';
  if (grant === 'client_credentials') refuseOtherGrantParams(params);
  // Each grant takes from its client's budget once the client is known, before it consumes
  // anything (a code, a refresh token); a request that fails gives it back.
  const ctx: GrantContext = { ...service, budget: new IssuanceBudget(service.store, service.clock, service.issuanceLimit), ...(proof ? { proof } : {}) };
  // Each issuance is reported with the grant that led to it.
  const onIssued = service.onIssued;
  if (onIssued) ctx.onIssued = (event) => onIssued({ ...event, grant });
  try {
    switch (grant) {
      case 'client_credentials':
        return await clientCredentials(ctx, params, authorization);
      case 'authorization_code':
        return await authorizationCode(ctx, params, authorization);
      case 'refresh_token':
        return await refreshToken(ctx, params, authorization);
      case GRANT_TOKEN_EXCHANGE:
        return await tokenExchange(ctx, params, authorization);
      case GRANT_DEVICE_CODE:
        return await deviceCode(ctx, params, authorization);
      default:
        throw unsupportedGrantType('this grant type is not supported');
    }
  } catch (e) {
    await ctx.budget.giveBack();
    throw e;
  }
}

/**
 * Parameters that belong to a grant other than client credentials (RFC 6749 §4.1.3, §6; RFC 8628
 * §3.4; RFC 8693 §2.1). Sent without grant_type they are not "client credentials implied": the
 * caller meant to redeem a user's code or rotate a refresh token, and a token of the client's own
 * rights in answer (the code left unredeemed) would be a confused deputy.
 */
const OTHER_GRANT_PARAMS = ['code', 'code_verifier', 'redirect_uri', 'refresh_token', 'device_code', 'subject_token', 'subject_token_type', 'actor_token'] as const;

/**
 * Client credentials, implied (RFC 9200 §5.8.1: no grant_type) or named, carry no other grant's
 * parameters: a client that sends a code under grant_type 2 (client_credentials, §8.11) where it
 * meant 1 made a mistake we answer, not one we turn into a token of another kind.
 */
function refuseOtherGrantParams(params: Params): void {
  const other = OTHER_GRANT_PARAMS.find((name) => params.has(name));
  if (!other) return;
  throw invalidRequest(`${other} belongs to another grant than client credentials${params.has('grant_type') ? '' : ' (grant_type is missing; RFC 9200 §5.8.1)'}`);
}

async function clientCredentials(ctx: GrantContext, params: Params, authorization: string | undefined): Promise<TokenResponse> {
  const { client } = await authenticate(ctx, params, authorization, { allowPublic: false });
  assertGrantAllowed(client, 'client_credentials');
  await ctx.budget.take(client.id);
  await recordProof(ctx);
  const audience = await resolveAudience(ctx.store, client, textParam(params, 'audience'));
  const asked = requestedScope(params);
  const scope = scopeToStored(decideScope(asked, client, audience));
  const issued = await issueAccessToken(ctx, {
    client,
    audience,
    scope,
    subject: client.id,
    ...popBinding(ctx, cnfParam(params, 'req_cnf')),
    ...cnonceOf(params),
  });
  return responseOf(issued, asked);
}

/**
 * Client authentication for this request; a client that authenticated with its TLS certificate
 * gets tokens bound to it (RFC 8705 §3), so the request's context remembers the thumbprint.
 */
async function authenticate(ctx: GrantContext, params: Params, authorization: string | undefined, opts: { allowPublic: boolean }): Promise<AuthenticatedClient> {
  const auth = await authenticateClient(ctx, params, authorization, opts);
  if (ctx.profile === 'fapi2') {
    checkFapi2ClientAuth(auth);
    checkFapi2SenderConstraint(auth, ctx.proof !== undefined);
  }
  if (auth.certificateThumbprint !== undefined) ctx.certificateThumbprint = auth.certificateThumbprint;
  return auth;
}

function reqCnfOf(params: Params): { reqCnf?: CborValue } {
  const v = cnfParam(params, 'req_cnf');
  return v === undefined ? {} : { reqCnf: v };
}

function cnonceOf(params: Params): { cnonce?: Uint8Array } {
  const v = bytesParam(params, 'cnonce');
  if (v !== undefined && (v.length === 0 || v.length > MAX_CNONCE_BYTES)) throw invalidRequest(`cnonce must be 1 to ${MAX_CNONCE_BYTES} bytes`);
  return v === undefined ? {} : { cnonce: v };
}

/** An access token for `issue` (its family: the grant's), and a new refresh token of the same family. */
async function issueWithRefresh(ctx: GrantContext, issue: IssueRequest & { family: string }): Promise<{ response: TokenResponse; refresh: string; family: string }> {
  const issued = await issueAccessToken(ctx, issue);
  const refresh = toHex(ctx.provider.randomBytes(32));
  return { response: responseOf(issued, undefined, { refresh_token: refresh }), refresh, family: issue.family };
}

/** The issue request of a grant stored with its req_cnf (an authorization or device code). */
function storedGrantIssue(ctx: GrantContext, client: ClientRecord, audience: AudienceRecord, scope: string, subject: string, reqCnf: Uint8Array | undefined, family: string): IssueRequest & { family: string } {
  return { client, audience, scope, subject, family, ...popBinding(ctx, reqCnf ? decodeStored(reqCnf) : undefined) };
}

async function storeNewRefresh(ctx: TokenContext, r: { refresh: string; family: string }, client: ClientRecord, audience: string, scope: string, subject: string, reqCnf: Uint8Array | undefined, binding: { dpopJkt?: string }): Promise<void> {
  await ctx.store.putRefreshToken({
    ...binding,
    tokenHash: lookupHash(r.refresh),
    family: r.family,
    clientId: client.id,
    audience,
    scope,
    subject,
    ...(reqCnf ? { reqCnf } : {}),
    expiresAt: Math.floor(ctx.clock()) + REFRESH_TOKEN_LIFETIME,
    used: false,
  });
}

function decodeStored(bytes: Uint8Array): CborValue {
  return decodeCbor(bytes, { maxBytes: 1024, maxDepth: 4 });
}

async function authorizationCode(ctx: GrantContext, params: Params, authorization: string | undefined): Promise<TokenResponse> {
  const code = requireText(params, 'code');
  const verifier = requireText(params, 'code_verifier'); // RFC 7636 §4.5: PKCE is required here
  const redirectUri = requireText(params, 'redirect_uri');
  const { client, method } = await authenticate(ctx, params, authorization, { allowPublic: true });
  assertGrantAllowed(client, 'authorization_code');
  // A public client's budget is per user (issuance-budget.ts), and the code names the user.
  if (method !== 'none') {
    await ctx.budget.take(client.id);
    await recordProof(ctx);
  }
  const family = toHex(ctx.provider.randomBytes(16));
  const consumed = await ctx.store.consumeAuthCode(lookupHash(code), family);
  const record = consumed.code;
  if (consumed.replayed) {
    // RFC 6749 §4.1.2: a code is used once; on a replay the service SHOULD revoke the tokens it
    // already issued from it (one of the two presenters stole it), refresh tokens included. Only
    // for a replay that would itself have been accepted (its client, redirect URI and PKCE
    // verifier): a used code turns up in URLs and logs, and anybody could otherwise end the
    // user's grant with it, at any time, by naming a public client_id.
    const wouldPass = record !== undefined && record.clientId === client.id && record.redirectUri === redirectUri && verifyPkce(verifier, record.codeChallenge);
    if (consumed.family && wouldPass) {
      const audiences = await ctx.store.revokeFamily(consumed.family, Math.floor(ctx.clock()));
      if (audiences.length) await ctx.onRevoked?.(audiences);
    }
    throw invalidGrant('authorization code already used');
  }
  if (!record || record.clientId !== client.id) throw invalidGrant('unknown authorization code');
  if (record.expiresAt <= ctx.clock()) throw invalidGrant('authorization code expired');
  if (record.redirectUri !== redirectUri) throw invalidGrant('redirect_uri differs from the authorization request');
  if (!verifyPkce(verifier, record.codeChallenge)) throw invalidGrant('PKCE code_verifier does not match');
  // RFC 9449 §10: a code requested with dpop_jkt is redeemed only with a proof by that key.
  if (record.dpopJkt !== undefined && ctx.proof?.jkt !== record.dpopJkt) throw invalidGrant('the authorization code is bound to another DPoP key (dpop_jkt)');
  if (method === 'none') {
    await ctx.budget.take(client.id, record.username);
    await recordProof(ctx);
  }
  const audience = await ctx.store.getAudience(record.audience);
  if (!audience) throw invalidTarget('audience no longer registered');
  const r = await issueWithRefresh(ctx, storedGrantIssue(ctx, client, audience, record.scope, record.username, record.reqCnf, family));
  await storeNewRefresh(ctx, r, client, audience.id, record.scope, record.username, record.reqCnf, refreshBinding(ctx, method));
  return { ...r.response, scope: scopeWireValue(record.scope) };
}

async function refreshToken(ctx: GrantContext, params: Params, authorization: string | undefined): Promise<TokenResponse> {
  const presented = requireText(params, 'refresh_token');
  const { client, method } = await authenticate(ctx, params, authorization, { allowPublic: true });
  assertGrantAllowed(client, 'refresh_token');
  const hash = lookupHash(presented);
  const record = await ctx.store.getRefreshToken(hash);
  if (!record || record.clientId !== client.id) throw invalidGrant('unknown refresh token');
  // RFC 9449 §5: a refresh token bound to a DPoP key is used only with a proof by that key;
  // refused before the rotation, so a thief's try does not spend the holder's token.
  if (record.dpopJkt !== undefined && ctx.proof?.jkt !== record.dpopJkt) throw invalidGrant('the refresh token is bound to another DPoP key');
  // Before the rotation consumes anything; a public client's budget is its user's.
  await ctx.budget.take(client.id, method === 'none' ? record.subject : undefined);
  await recordProof(ctx);
  const audience = await ctx.store.getAudience(record.audience);
  if (!audience) throw invalidTarget('audience no longer registered');
  // RFC 6749 §6: a refreshed token may have the same or a narrower scope, never a wider one.
  const asked = requestedScope(params);
  let scope = record.scope;
  if (asked !== undefined) {
    assertWithin(asked, scopeFromStored(record.scope));
    scope = scopeToStored(asked);
  }
  const issue: IssueRequest = {
    client,
    audience,
    scope,
    subject: record.subject,
    family: record.family,
    ...popBinding(ctx, record.reqCnf ? decodeStored(record.reqCnf) : undefined),
  };
  // Before the rotation spends the presented token: a binding that can no longer be made (a
  // rights update whose material's token is gone, a kid the client no longer has registered, a
  // DPoP proof beside a bound req_cnf) is refused with the token still the holder's. Refused
  // after it, the new refresh token was never delivered, and the holder's retry with the old one
  // read as reuse and revoked the whole family (RFC 9700 §4.14.2).
  const checked = await checkPopBinding(ctx, issue);
  const refresh = toHex(ctx.provider.randomBytes(32));
  const rotated = await ctx.store.rotateRefreshToken(
    hash,
    {
      tokenHash: lookupHash(refresh),
      family: record.family,
      clientId: client.id,
      audience: audience.id,
      scope: record.scope,
      subject: record.subject,
      ...(record.reqCnf ? { reqCnf: record.reqCnf } : {}),
      // Once bound, always bound; an unbound public client's token binds to its first DPoP key.
      ...(record.dpopJkt !== undefined ? { dpopJkt: record.dpopJkt } : refreshBinding(ctx, method)),
      expiresAt: Math.floor(ctx.clock()) + REFRESH_TOKEN_LIFETIME,
      used: false,
    },
    Math.floor(ctx.clock()),
  );
  if (!rotated.ok) {
    if (rotated.reason === 'reused') {
      // RFC 9700 §4.14.2: a used refresh token came back, so one of two holders stole it; end the
      // grant as a replayed code does (RFC 6749 §4.1.2), its access tokens included, and publish.
      const audiences = await ctx.store.revokeFamily(record.family, Math.floor(ctx.clock()));
      if (audiences.length) await ctx.onRevoked?.(audiences);
      throw invalidGrant('refresh token reused: its family is revoked');
    }
    throw invalidGrant('refresh token not valid');
  }
  const issued = await issueAccessToken(ctx, { ...issue, checked });
  return responseOf(issued, asked, { refresh_token: refresh });
}

/** Verifies a subject token this service issued (by value or by reference) and returns who and for where. */
async function readSubjectToken(ctx: TokenContext, token: Uint8Array): Promise<{ audience: string; subject: string; clientId: string; scope: string; ref: TokenRef; expiresAt: number }> {
  const [hash, cti] = tokenName(ctx, token);
  const ref: TokenRef = { tokenHash: hash, ...(cti ? { cti } : {}) };
  const record = await ctx.store.getTokenByHash(hash, cti);
  const now = ctx.clock();
  if (!record || record.revoked) throw invalidGrant('subject token is not active');
  if (record.reference) {
    if (record.expiresAt <= now) throw invalidGrant('subject token expired');
    return { audience: record.audience, subject: record.subject, clientId: record.clientId, scope: record.scope, ref, expiresAt: record.expiresAt };
  }
  const audience = await ctx.store.getAudience(record.audience);
  if (!audience) throw invalidGrant('subject token audience unknown');
  const keys: CoseKey[] = [...ctx.keys.publicKeys(now), audience.macKey];
  const byKid = (h: ParsedHeaders): CoseKey | undefined => keys.find((k) => k.kid && h.kid && constantTimeEqual(k.kid, h.kid));
  try {
    const { claims } = verifyCwt(token, byKid, {
      audience: audience.id,
      issuer: ctx.issuer,
      clock: ctx.clock,
      leeway: 0,
      decryptionKeys: audience.encKey,
      provider: ctx.provider,
    });
    // exi tokens have no exp: the service's own record bounds them.
    if (claims.exi !== undefined && record.expiresAt <= now) throw new Error('expired');
  } catch {
    throw invalidGrant('subject token does not verify');
  }
  return { audience: record.audience, subject: record.subject, clientId: record.clientId, scope: record.scope, ref, expiresAt: record.expiresAt };
}

async function tokenExchange(ctx: GrantContext, params: Params, authorization: string | undefined): Promise<TokenResponse> {
  const { client } = await authenticate(ctx, params, authorization, { allowPublic: false });
  assertGrantAllowed(client, GRANT_TOKEN_EXCHANGE as GrantType);
  await ctx.budget.take(client.id);
  await recordProof(ctx);
  const type = requireText(params, 'subject_token_type');
  if (type !== TOKEN_TYPE_CWT && type !== TOKEN_TYPE_ACCESS) throw invalidRequest('unsupported subject_token_type');
  const subjectToken = bytesParam(params, 'subject_token');
  if (!subjectToken || subjectToken.length === 0) throw invalidRequest('parameter subject_token is missing');
  const subject = await readSubjectToken(ctx, subjectToken);
  // The subject token must be the requesting client's own (the EKG device exchanges its token,
  // nobody else's). Issued to it, not merely naming it as sub: a user's sub can equal a client id.
  if (subject.clientId !== client.id) throw invalidGrant('subject token was not issued to this client');
  const audience = await resolveAudience(ctx.store, client, textParam(params, 'audience'));
  assertExchangeAllowed(subject.audience, audience);
  const asked = requestedScope(params);
  // Never wider than the subject token (policy.ts decideExchangeScope).
  const scope = scopeToStored(decideExchangeScope(asked, scopeFromStored(subject.scope), client, audience));
  // Nor longer-lived: it ends when the subject token does (exp, or exi counted from now), so a
  // chain of exchanges cannot keep a grant alive past its tokens.
  const remaining = subject.expiresAt - Math.floor(ctx.clock());
  const bounded = remaining < audience.policy.lifetime ? { ...audience, policy: { ...audience.policy, lifetime: remaining } } : audience;
  const reqCnf = cnfParam(params, 'req_cnf');
  // RFC 9203 §3.1: req_cnf kid(3) for a coap_oscore audience asks for an update of the access
  // rights of the token that carried that material; the update is linked under that token (its
  // contexts move to the update at the device) and an exchange would link it under the subject
  // token instead, so revoking the original would leave the update's context alive (review 36b).
  if (audience.policy.aceProfile === ACE_PROFILE.coap_oscore && !ctx.proof && requestedMaterialId(reqCnf) !== undefined) {
    throw invalidRequest('req_cnf(4) kid(3): an update of access rights (RFC 9203 §3.1) is asked with a grant of its own, not by token exchange');
  }
  const issued = await issueAccessToken(ctx, { client, audience: bounded, scope, subject: subject.subject, ...popBinding(ctx, reqCnf), ...cnonceOf(params) });
  // The new token joins the subject's grant family and is revoked with the subject; a subject
  // revoked while this one was minted takes it along at once (store.ts linkExchangedToken).
  if (!(await ctx.store.linkExchangedToken({ tokenHash: issued.tokenHash, cti: toHex(issued.cti) }, subject.ref))) {
    await ctx.onRevoked?.([audience.id]);
    throw invalidGrant('subject token is not active');
  }
  return responseOf(issued, asked, { issued_token_type: TOKEN_TYPE_CWT });
}

async function deviceCode(ctx: GrantContext, params: Params, authorization: string | undefined): Promise<TokenResponse> {
  const code = requireText(params, 'device_code');
  const { client, method } = await authenticate(ctx, params, authorization, { allowPublic: true });
  assertGrantAllowed(client, GRANT_DEVICE_CODE as GrantType);
  const hash = lookupHash(code);
  const now = Math.floor(ctx.clock());
  const record = await ctx.store.pollDeviceCode(hash, now);
  if (!record || record.clientId !== client.id) throw invalidGrant('unknown device code');
  // RFC 8628 §3.5, in the order a client can act on.
  if (record.expiresAt <= now) throw new AuthzError('expired_token', 'the device code has expired');
  if (record.status === 'denied') {
    await ctx.store.deleteDeviceCode(hash);
    throw new AuthzError('access_denied', 'the user denied the request');
  }
  if (record.status === 'pending') {
    if (now - record.lastPolledAt < record.interval) {
      await ctx.store.setDeviceCodeInterval(hash, record.interval + SLOW_DOWN_STEP);
      throw new AuthzError('slow_down', 'polling too fast');
    }
    throw new AuthzError('authorization_pending', 'the user has not yet approved');
  }
  // Approved: a token is due (a public client's budget is the approving user's), before anything is consumed.
  await ctx.budget.take(client.id, method === 'none' ? (record.username ?? client.id) : undefined);
  await recordProof(ctx);
  const audience = await ctx.store.getAudience(record.audience);
  if (!audience) throw invalidTarget('audience no longer registered');
  // The user's approval is not spent on a poll whose key binding is refused (as refreshToken).
  const subject = record.username ?? client.id;
  const issue = storedGrantIssue(ctx, client, audience, record.scope, subject, record.reqCnf, toHex(ctx.provider.randomBytes(16)));
  const checked = await checkPopBinding(ctx, issue);
  // Deleted before issuing, so two concurrent polls cannot both get a token.
  if (!(await ctx.store.deleteDeviceCode(hash))) throw invalidGrant('device code already used');
  const r = await issueWithRefresh(ctx, { ...issue, checked });
  await storeNewRefresh(ctx, r, client, audience.id, record.scope, subject, record.reqCnf, refreshBinding(ctx, method));
  return { ...r.response, scope: scopeWireValue(record.scope) };
}

/** Validates req_cnf once at the authorization / device-authorization request and stores it as CBOR. */
export function storedReqCnf(params: Params, client: ClientRecord): Uint8Array | undefined {
  const v = cnfParam(params, 'req_cnf');
  if (v === undefined) return undefined;
  parseReqCnf(v, client);
  return encodeCbor(v);
}
