/**
 * Issuance: builds the CWT for one grant decision (DESIGN.md "Access token"), records it, and
 * says what the client needs back. Pure of HTTP: the token endpoint calls this, tests call it
 * directly. Protection, exp or exi, tag 61 and reference tokens follow the audience's registration;
 * the token itself is made by cose/'s mintAccessToken, as the simulator's and the tests' issuers do.
 */
import {
  ACE_PROFILE,
  ALG,
  CNF_LABEL,
  oscoreInputMaterialToMap,
  sealCoseKey,
  DEFAULT_ACE_PROFILE,
  CLAIM_MESSAGE_POP,
  cnfFromMap,
  constantTimeEqual,
  isMap,
  cnfToMap,
  coseKeyToMap,
  encodeCbor,
  mintAccessToken,
  publicCoseKey,
  toHex,
  tokenHash,
  type CborMap,
  type CborValue,
  type Confirmation,
  type CryptoProvider,
  type Jwk,
  jwkToCoseKey,
  fromHex,
} from '../cose/index.js';
import { issueJwtAccessToken } from './jwt-access-token.js';
import { findOscoreRightsUpdate, requestedMaterialId, type OscoreRightsUpdate } from './oscore-access-rights-update.js';
import { AuthzError, invalidRequest } from './errors.js';
import { scopeWireValue } from './scope-forms.js';
import type { SigningKeys } from './signing-keys.js';
import { CERTIFICATE_BOUND_TOKEN_TYPE } from './certificate-bound-token.js';
import { splitAccessToken, type SplitTokenStore } from './split-token-store.js';
import type { AudienceRecord, AuthzStore, ClientRecord, IssuedTokenRecord } from './store.js';

export interface IssuerContext {
  issuer: string;
  store: AuthzStore;
  keys: SigningKeys;
  provider: CryptoProvider;
  /** Seconds since the epoch. */
  clock: () => number;
  /** Told of every token issued (the server logs and counts it); never given the token itself. */
  onIssued?: (event: IssuanceEvent & { grant?: string }) => void;
  /**
   * RFC 8705 §3: this request's client authenticated with the certificate of this thumbprint
   * (x5t#S256); its access token is bound to it (certificate-bound-token.ts), not to a COSE key.
   */
  certificateThumbprint?: string;
  /** Where split tokens' signature halves go (split-token-store.ts); absent, a split-token audience is refused. */
  splitTokens?: SplitTokenStore;
}

/** What an issuance tells the log and the metrics: names and hashes, never the token or a key. */
export interface IssuanceEvent {
  clientId: string;
  audience: string;
  subject: string;
  /** The kid (hex) of the key that protects the token: the signing key, or the audience's MAC key. */
  kid: string | undefined;
  /** Hex SHA-256 of the token (RFC 9200 §5.10.1: what revocation lists carry). */
  tokenHash: string;
  cti: string;
  reference: boolean;
  clockless: boolean;
}

export interface IssueRequest {
  client: ClientRecord;
  audience: AudienceRecord;
  /** Already decided by policy, in its stored form (scope-forms.ts). */
  scope: string;
  subject: string;
  /** The client's req_cnf as a CBOR cnf map (RFC 9201 §5), or none to get a symmetric PoP key. */
  reqCnf?: CborValue;
  /** RFC 9200 §5.3.1: a nonce the RS asked for; placed in the token as cnonce(39). */
  cnonce?: Uint8Array;
  /** The grant family (authorization code, refresh tokens) the token belongs to. */
  family?: string;
  /** RFC 9449: bind the token to the DPoP proof's key (instead of req_cnf): its JWK and RFC 7638 thumbprint. */
  dpop?: { jkt: string; jwk: Jwk };
  /** The binding checkPopBinding resolved for this request: issued as it was checked. */
  checked?: CheckedBinding;
}

/** What a CWT is bound to (cwtBinding), as checkPopBinding found it; nothing for a JWT, whose binding reads no store. */
export interface CheckedBinding {
  readonly cwt?: CwtBinding;
}

interface CwtBinding {
  oscore: boolean;
  update?: OscoreRightsUpdate;
  reqCnf?: Confirmation;
}

export interface IssuedToken {
  /** A CWT or reference handle (bytes), or a JWT access token (text, RFC 9068). */
  accessToken: Uint8Array | string;
  /** Seconds (absent for exi tokens: the device counts from receipt). */
  expiresIn?: number;
  /** RFC 9201 §5: the symmetric PoP key the service made for the client (COSE_Key in a cnf map). */
  cnf?: CborMap;
  /** RFC 9201 §5: the resource server's key, when the client needs it. */
  rsCnf?: CborMap;
  scope: string;
  tokenHash: string;
  cti: Uint8Array;
  /** The ACE profile of the audience (RFC 9200 §5.8.4.3): registered, or DEFAULT_ACE_PROFILE. */
  aceProfile: number;
  /** The token_type to answer with when neither DPoP nor PoP: Bearer for a certificate-bound JWT (RFC 8705 §3). */
  tokenType?: string;
  /** RFC 9449 §5: bound to a DPoP key, so token_type is DPoP. */
  dpop: boolean;
  /**
   * RFC 9203 §3.2: the token carries OSCORE_Input_Material; the response names ace_profile
   * coap_oscore ("the use of OSCORE is REQUIRED") and gives the same material in cnf.
   */
  oscore?: boolean;
}

/** RFC 9203 §3.2: the OSCORE_Input_Material the service makes per token: an 8-byte id (unique per client), 32-byte Master Secret, 8-byte salt. */
const OSC_ID_BYTES = 8;
const OSC_MASTER_SECRET_BYTES = 32;
const OSC_SALT_BYTES = 8;

/** Reference token handles: 256 bits of randomness, unguessable. */
const REFERENCE_BYTES = 32;

/**
 * req_cnf (RFC 9201 §3.1) in the forms of RFC 8747 §3, resolved to the key the token binds:
 * - COSE_Key (1): the client's public key (RFC 8747 §3.2). A symmetric key sent in the clear is
 *   refused (RFC 9201 §3.1 wants it encrypted; keybound makes symmetric keys itself, RFC 9201 §5),
 *   and a key type the resource servers cannot check is unsupported_pop_key (RFC 9200 §5.8.3).
 * - kid (3): a key the service already holds for this client (RFC 8747 §3.4): the public key it
 *   registered, compared in constant time. Any other kid is invalid_request: the service cannot
 *   tell which key is meant, and must never bind a token to a key the client does not own.
 * - Encrypted_COSE_Key (2): a symmetric key sealed for the service (RFC 8747 §3.3). keybound
 *   shares no symmetric key with clients to open it (secrets are stored as scrypt hashes), so it
 *   is unsupported_pop_key; the client leaves req_cnf out to have the service make one.
 * `client` absent (an authorization request, stored until its code is redeemed): checked for shape
 * only, and resolved when the token is issued.
 */
export function parseReqCnf(value: CborValue | undefined, client?: ClientRecord): Confirmation | undefined {
  if (value === undefined) return undefined;
  if (!isMap(value) || value.size !== 1) throw invalidRequest('req_cnf(4) must be a map with exactly one confirmation method (RFC 8747 §3.1)');
  const label = [...value.keys()][0];
  if (label !== CNF_LABEL.coseKey && label !== CNF_LABEL.encryptedCoseKey && label !== CNF_LABEL.kid) {
    throw invalidRequest(`req_cnf(4) confirmation method ${String(label).slice(0, 20)} is not one of COSE_Key(1), Encrypted_COSE_Key(2), kid(3) (RFC 8747 §3)`);
  }
  if (label === CNF_LABEL.coseKey) {
    const key = value.get(label);
    const kty = isMap(key) ? key.get(1) : undefined;
    if (typeof kty !== 'number' && typeof kty !== 'string') throw invalidRequest('req_cnf(4) COSE_Key(1) has no kty(1) (RFC 9052 §7.1)');
    if (kty === 4 || kty === 'Symmetric') throw invalidRequest('req_cnf(4) must not carry a symmetric key in the clear (RFC 9201 §3.1)');
    // RFC 9200 §5.8.3 unsupported_pop_key: a key of a type or curve no resource server can check.
    // A key of a supported type that is malformed or hostile (off the curve, small order) is
    // invalid_request below, as any malformed parameter.
    const curves = POP_KEY_CURVES[kty as number];
    if (!curves) throw new AuthzError('unsupported_pop_key', 'req_cnf(4) key type is not supported: OKP or EC2 keys only');
    if (!curves.includes((key as CborMap).get(-1) as number)) throw new AuthzError('unsupported_pop_key', 'req_cnf(4) curve is not supported');
  }
  let cnf: Confirmation;
  try {
    cnf = cnfFromMap(value);
  } catch {
    throw invalidRequest('req_cnf(4) is not a valid cnf (RFC 8747 §3)');
  }
  if ('encryptedCoseKey' in cnf) throw new AuthzError('unsupported_pop_key', 'req_cnf(4) Encrypted_COSE_Key(2): this service shares no key with clients to open it; omit req_cnf to get a symmetric key');
  if ('kid' in cnf) {
    if (cnf.kid.length > MAX_KID_BYTES) throw invalidRequest(`req_cnf(4) kid(3) is longer than ${MAX_KID_BYTES} bytes`);
    if (!client) return cnf;
    const registered = client.publicKey;
    if (!registered?.kid || !constantTimeEqual(registered.kid, cnf.kid)) throw invalidRequest('req_cnf(4) kid(3) names no key registered for this client');
    return { coseKey: registered };
  }
  return cnf;
}

/** RFC 9053 §7.1/§7.2: the curves of the key types a PoP key may have (OKP: Ed25519, Ed448; EC2: P-256, P-384, P-521). */
const POP_KEY_CURVES: Readonly<Record<number, readonly number[]>> = { 1: [6, 7], 2: [1, 2, 3] };

/** Key ids are short handles (RFC 9052 §3.1); a long one is an attack on the store, not a key. */
const MAX_KID_BYTES = 64;

/**
 * The CWT binding of a DPoP key. RFC 9449 defines cnf.jkt for JWTs only; a CWT's cnf carries the
 * proof's public key itself as a COSE_Key (RFC 8747 §3.2), converted from its JWK, so every
 * keybound verifier checks it as it checks any asymmetric PoP key, and a gateway recomputes the
 * RFC 7638 thumbprint from it to compare with the proof's jkt. Key types a CWT verifier cannot
 * check (RSA) are unsupported_pop_key: such a client needs an audience with JWT access tokens.
 */
function dpopCnf(dpop: { jwk: Jwk }, client: ClientRecord): Confirmation {
  let map: CborMap;
  try {
    map = new Map<CborValue, CborValue>([[CNF_LABEL.coseKey, coseKeyToMap(publicCoseKey(jwkToCoseKey(dpop.jwk)))]]);
  } catch {
    throw new AuthzError('unsupported_pop_key', 'this DPoP key type cannot be bound into a CWT (OKP or EC keys only)');
  }
  return parseReqCnf(map, client)!;
}

/**
 * RFC 9068: a JWT access token for an audience registered with token format jwt, bound to the
 * DPoP key (cnf.jkt) or to req_cnf's public key (cnf.jwk); never a symmetric key, never unbound.
 */
async function issueJwt(ctx: IssuerContext, req: IssueRequest): Promise<IssuedToken> {
  if (req.cnonce) throw invalidRequest('cnonce (RFC 9200 §5.3.1) is for CWTs; this audience takes JWT access tokens');
  const reqCnf = req.dpop ? undefined : parseReqCnf(req.reqCnf, req.client);
  const cnf = req.dpop
    ? { jkt: req.dpop.jkt }
    : ctx.certificateThumbprint !== undefined
      ? { x5t: ctx.certificateThumbprint }
      : reqCnf && 'coseKey' in reqCnf
        ? { jwk: reqCnf.coseKey }
        : undefined;
  if (req.audience.policy.splitToken && !ctx.splitTokens) throw new AuthzError('server_error', 'this audience takes split tokens and the service has no store for their signatures (--split-token-redis)');
  const issued = await issueJwtAccessToken(ctx, { client: req.client, audience: req.audience, scope: req.scope, subject: req.subject, cnf, ...(req.family ? { family: req.family } : {}) });
  const { record, kid } = issued;
  await ctx.store.recordToken(record);
  // The signature is stored before the client can hold the other half, for as long as the token lives.
  const token = req.audience.policy.splitToken ? await splitAccessToken(ctx.splitTokens!, issued.token, req.audience.policy.lifetime) : issued.token;
  ctx.onIssued?.({ clientId: req.client.id, audience: req.audience.id, subject: req.subject, kid: kid ? toHex(kid) : undefined, tokenHash: record.tokenHash, cti: record.cti, reference: false, clockless: false });
  const profile = req.audience.policy.aceProfile ?? DEFAULT_ACE_PROFILE;
  return { accessToken: token, expiresIn: req.audience.policy.lifetime, scope: req.scope, tokenHash: record.tokenHash, cti: fromHex(record.cti), aceProfile: profile, dpop: req.dpop !== undefined, ...(cnf && 'x5t' in cnf ? { tokenType: CERTIFICATE_BOUND_TOKEN_TYPE } : {}) };
}

/** RFC 8705 §3: a client that authenticated with its certificate gets a JWT bound to it (a CWT has no confirmation method for a certificate), unless it proved a DPoP key for this token. */
const issuesJwt = (ctx: IssuerContext, req: IssueRequest): boolean => req.audience.policy.tokenFormat === 'jwt' || (ctx.certificateThumbprint !== undefined && !req.dpop);

/**
 * What a CWT will be bound to, or the refusal: the client's key (req_cnf, or its DPoP key), an
 * update of access rights (RFC 9203 §3.1), or neither (the service makes a key).
 */
async function cwtBinding(ctx: IssuerContext, req: IssueRequest): Promise<CwtBinding> {
  const { audience } = req;
  // Registered --profile coap_oscore (registry.ts): the PoP key is an OSCORE Master Secret the
  // service makes (RFC 9203 §3.2: "The PoP key included in the response ... MUST be used as a
  // Master Secret"), so a client's own key cannot be bound; req_cnf kid(3) there names material
  // the service made before: an update of access rights (oscore-access-rights-update.ts).
  const oscore = audience.policy.aceProfile === ACE_PROFILE.coap_oscore;
  if (oscore && audience.protection !== 'encrypt0') throw new AuthzError('server_error', 'a coap_oscore audience must have encrypt0 tokens (RFC 9203 §3.2): re-register it');
  const materialId = oscore && !req.dpop ? requestedMaterialId(req.reqCnf) : undefined;
  const update = materialId ? await findOscoreRightsUpdate(ctx, req.client, audience, materialId) : undefined;
  const reqCnf = update ? undefined : req.dpop ? dpopCnf(req.dpop, req.client) : parseReqCnf(req.reqCnf, req.client);
  if (oscore && reqCnf) throw new AuthzError('unsupported_pop_key', 'req_cnf(4): tokens for this audience (coap_oscore, RFC 9203 §3.2) carry an OSCORE Master Secret the service makes; omit req_cnf, or send kid(3) with the material id to update access rights');
  return { oscore, ...(update ? { update } : {}), ...(reqCnf ? { reqCnf } : {}) };
}

/**
 * Throws what issueAccessToken would throw for this request's key binding, and issues nothing: a
 * grant that spends something first (a refresh token's rotation) asks this before, so that a
 * binding that can no longer be made (a rights update whose material's token is gone, a kid the
 * client no longer has registered) is refused with the grant still unspent. The binding found is
 * handed to issueAccessToken (IssueRequest.checked): looked up again after the spend, a rights
 * update whose material's token went in between was refused with the grant spent.
 */
export async function checkPopBinding(ctx: IssuerContext, req: IssueRequest): Promise<CheckedBinding> {
  if (!issuesJwt(ctx, req)) return { cwt: await cwtBinding(ctx, req) };
  if (req.cnonce) throw invalidRequest('cnonce (RFC 9200 §5.3.1) is for CWTs; this audience takes JWT access tokens');
  if (!req.dpop) parseReqCnf(req.reqCnf, req.client);
  return {};
}

export async function issueAccessToken(ctx: IssuerContext, req: IssueRequest): Promise<IssuedToken> {
  if (issuesJwt(ctx, req)) return issueJwt(ctx, req);
  const { audience } = req;
  const lifetime = audience.policy.lifetime;
  const signer = ctx.keys.current().key;
  const profile = audience.policy.aceProfile ?? DEFAULT_ACE_PROFILE;
  const { oscore, update, reqCnf } = req.checked?.cwt ?? (await cwtBinding(ctx, req));
  // RFC 9203 §3.2: "a different OSCORE_Input_Material ... to different authorized clients": fresh per token.
  const osc = oscore && !update
    ? { id: ctx.provider.randomBytes(OSC_ID_BYTES), ms: ctx.provider.randomBytes(OSC_MASTER_SECRET_BYTES), salt: ctx.provider.randomBytes(OSC_SALT_BYTES) }
    : undefined;
  // How the audience reads tokens: Sign1, Mac0 under its shared key, or Sign1 inside Encrypt0.
  const protection =
    audience.protection === 'mac0'
      ? { key: audience.macKey, alg: ALG.HMAC_256_64 }
      : audience.protection === 'encrypt0'
        ? { key: signer, encryptTo: audience.encKey, encryptAlg: ALG.AES_CCM_16_64_128 }
        : { key: signer };
  const ownCanonical = !audience.referenceTokens && audience.policy.untaggedTokens !== true && (audience.protection === 'mac0' || (audience.protection === 'sign1' && signer.kty === 'OKP'));
  let issued: { minted: ReturnType<typeof mintAccessToken>; accessToken: Uint8Array; hash: string } | undefined;
  /** Mints the token (with its exi sequence number, for a clock-less audience) and returns its record. */
  const mint = (exiSequence: bigint | undefined): IssuedTokenRecord => {
    const minted = mintAccessToken(
      {
        issuer: ctx.issuer,
        audience: audience.id,
        subject: req.subject,
        // The scope claim carries the scope itself: text, or the AIF array a device or broker reads.
        scope: scopeWireValue(req.scope),
        lifetime,
        ...(exiSequence !== undefined ? { exiSequence } : {}),
        // RFC 9201 §5: no req_cnf, so the service makes a symmetric PoP key, gives it to the client
        // and seals it for the audience (RFC 8747 §3.3 Encrypted_COSE_Key).
        // RFC 9203 §3.2.1: for a coap_oscore audience, cnf osc(4) in the (encrypted) token.
        // RFC 9203 §3.2: an update of access rights names the material by its id, kid(3).
        cnf: osc ? { osc } : update ? { kid: update.id } : (reqCnf ?? { sealFor: audience.encKey }),
        ...(req.cnonce ? { cnonce: req.cnonce } : {}),
        // RFC 9200 §5.10: the token names its profile when it is not the one the audience assumes.
        ...(profile !== DEFAULT_ACE_PROFILE ? { profile } : {}),
        // Chosen at registration (register-client --message-pop): the broker then checks every PUBLISH.
        ...(req.client.messagePop ? { extra: new Map<CborValue, CborValue>([[CLAIM_MESSAGE_POP, true]]) } : {}),
      },
      { ...protection, untagged: audience.policy.untaggedTokens === true, clock: ctx.clock, provider: ctx.provider },
    );
    const { claims } = minted;
    const accessToken = audience.referenceTokens ? ctx.provider.randomBytes(REFERENCE_BYTES) : minted.token;
    // Over the canonical bytes (cose/token-hash.ts): an untagged token has the hash of its tagged
    // form, so the revocation list matches it whichever form reaches the device or the broker.
    // A tagged EdDSA Sign1 or Mac0 of ours already is that form (empty unprotected header,
    // deterministic CBOR, and no second signature form), so its hash is SHA-256 over its bytes:
    // decoding and re-encoding it cost ~8 us a token (issue 13). Untagged, Encrypt0 (its IV is
    // unprotected), ECDSA (low-S is the provider's choice) and reference tokens take the long way.
    const hash = toHex(ownCanonical ? ctx.provider.digest('SHA-256', accessToken) : tokenHash(accessToken, ctx.provider));
    issued = { minted, accessToken, hash };
    return {
      cti: toHex(claims.cti!),
      tokenHash: hash,
      audience: audience.id,
      clientId: req.client.id,
      subject: req.subject,
      scope: req.scope,
      issuedAt: claims.iat!,
      expiresAt: claims.iat! + lifetime,
      // The record keeps an OSCORE Master Secret sealed for the audience, as any symmetric PoP key
      // (never in the clear in the store); revocation proofs open it the same way.
      cnf: update ? update.sealedCnf : encodeCbor(cnfToMap(osc ? sealCoseKey({ kty: 'Symmetric', kid: osc.id, k: osc.ms }, audience.encKey, { provider: ctx.provider }) : claims.cnf!)),
      reference: audience.referenceTokens,
      revoked: false,
      // A Sign1 or Mac0 token shows its cti: it is then looked up by it (store.ts ctiInToken).
      ...(!audience.referenceTokens && audience.protection !== 'encrypt0' ? { ctiInToken: true } : {}),
      ...(req.family ? { family: req.family } : {}),
      ...(exiSequence !== undefined ? { exiSequence: Number(exiSequence) } : {}),
    };
  };
  // A clock-less token takes its sequence number and is recorded in one transaction, so no
  // revocation list's exi floor covers a number whose token is still being minted (store.ts).
  if (audience.clockless) await ctx.store.recordExiToken(audience.id, mint);
  else await ctx.store.recordToken(mint(undefined));
  const { minted, accessToken, hash } = issued!;
  // RFC 9203 §4.4: the device moves the updated token's contexts to this one, so this one is
  // revoked with it. Linked atomically: an original revoked meanwhile takes this one along, and
  // the client is told no (its material's token is gone).
  if (update && !(await ctx.store.linkExchangedToken({ tokenHash: hash, cti: toHex(minted.claims.cti!) }, update.updates))) {
    throw invalidRequest('req_cnf(4) kid(3): the token that carried this OSCORE input material was revoked (RFC 9203 §3.1): ask without req_cnf for new material');
  }
  const cti = minted.claims.cti!;
  const out: IssuedToken = { accessToken, scope: req.scope, tokenHash: hash, cti, aceProfile: profile, dpop: req.dpop !== undefined };
  const kid = protection.key.kid;
  ctx.onIssued?.({ clientId: req.client.id, audience: audience.id, subject: req.subject, kid: kid ? toHex(kid) : undefined, tokenHash: hash, cti: toHex(cti), reference: audience.referenceTokens, clockless: audience.clockless });
  if (!audience.clockless) out.expiresIn = lifetime;
  if (minted.popKey) out.cnf = new Map([[1, coseKeyToMap(minted.popKey)]]);
  // RFC 9203 §3.2: the client gets the same OSCORE_Input_Material, as cnf osc(4).
  if (osc) {
    out.cnf = new Map([[CNF_LABEL.osc, oscoreInputMaterialToMap(osc)]]);
    out.oscore = true;
  }
  // RFC 9201 §5: rs_cnf tells an asymmetric-key client which key the RS will prove itself with.
  if (reqCnf && audience.rsKey) out.rsCnf = new Map([[1, coseKeyToMap(publicCoseKey(audience.rsKey))]]);
  return out;
}
