/**
 * Issuance: builds the CWT for one grant decision (DESIGN.md "Access token"), records it, and
 * says what the client needs back. Pure of HTTP: the token endpoint calls this, tests call it
 * directly. Protection, exp or exi, and reference tokens follow the audience's registration.
 */
import {
  ALG,
  cnfFromMap,
  cnfToMap,
  coseKeyToMap,
  createCwt,
  encodeCbor,
  publicCoseKey,
  sealCoseKey,
  toHex,
  tokenHash,
  utf8,
  concatBytes,
  type CborMap,
  type CborValue,
  type Confirmation,
  type CoseKey,
  type CryptoProvider,
  type CwtClaims,
} from '../cose/index.js';
import { invalidRequest } from './errors.js';
import { scopeWireValue } from './scope-forms.js';
import type { SigningKeys } from './signing-keys.js';
import type { AudienceRecord, AuthzStore, ClientRecord } from './store.js';

export interface IssuerContext {
  issuer: string;
  store: AuthzStore;
  keys: SigningKeys;
  provider: CryptoProvider;
  /** Seconds since the epoch. */
  clock: () => number;
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
}

export interface IssuedToken {
  accessToken: Uint8Array;
  /** Seconds (absent for exi tokens: the device counts from receipt). */
  expiresIn?: number;
  /** RFC 9201 §5: the symmetric PoP key the service made for the client (COSE_Key in a cnf map). */
  cnf?: CborMap;
  /** RFC 9201 §5: the resource server's key, when the client needs it. */
  rsCnf?: CborMap;
  scope: string;
  tokenHash: string;
  cti: Uint8Array;
}

/** RFC 9200 §5.10.3 and DESIGN.md: cti = audience id ‖ 0x00 ‖ 8-byte big-endian sequence number. */
export function exiCti(audience: string, sequence: bigint): Uint8Array {
  const seq = new Uint8Array(8);
  new DataView(seq.buffer).setBigUint64(0, sequence);
  return concatBytes(utf8(audience), new Uint8Array([0]), seq);
}

/** Symmetric PoP keys are 32 bytes: enough for HMAC 256/64 proofs (RFC 9053 §3.1) and for HKDF session keys. */
const POP_KEY_BYTES = 32;
/** Reference token handles: 256 bits of randomness, unguessable. */
const REFERENCE_BYTES = 32;
/** CWT cnonce claim (RFC 9200 §5.3.1 / IANA CWT registry). */
const CLAIM_CNONCE = 39;

export function parseReqCnf(value: CborValue | undefined): Confirmation | undefined {
  if (value === undefined) return undefined;
  let cnf: Confirmation;
  try {
    cnf = cnfFromMap(value);
  } catch {
    throw invalidRequest('req_cnf is not a valid cnf (RFC 8747)');
  }
  if (!('coseKey' in cnf)) throw invalidRequest('req_cnf must carry a COSE_Key (1)');
  return cnf;
}

export async function issueAccessToken(ctx: IssuerContext, req: IssueRequest): Promise<IssuedToken> {
  const now = Math.floor(ctx.clock());
  const { audience } = req;
  const lifetime = audience.policy.lifetime;
  let cti: Uint8Array;
  let exiSequence: bigint | undefined;
  // The scope claim carries the scope itself: text, or the AIF array a device or broker reads.
  const claims: CwtClaims = { iss: ctx.issuer, sub: req.subject, aud: audience.id, iat: now, scope: scopeWireValue(req.scope) };
  if (audience.clockless) {
    exiSequence = await ctx.store.nextExiSequence(audience.id);
    cti = exiCti(audience.id, exiSequence);
    claims.exi = lifetime;
  } else {
    cti = ctx.provider.randomBytes(16);
    claims.exp = now + lifetime;
  }
  claims.cti = cti;
  if (req.cnonce) claims.other = new Map([[CLAIM_CNONCE, req.cnonce]]);

  let responseCnf: CborMap | undefined;
  const reqCnf = parseReqCnf(req.reqCnf);
  if (reqCnf) {
    claims.cnf = reqCnf;
  } else {
    // RFC 9201 §5: no req_cnf, so the service makes a symmetric PoP key, gives it to the client
    // and seals it for the audience (RFC 8747 §3.3 Encrypted_COSE_Key).
    const popKey: CoseKey = { kty: 'Symmetric', kid: ctx.provider.randomBytes(8), k: ctx.provider.randomBytes(POP_KEY_BYTES) };
    claims.cnf = sealCoseKey(popKey, audience.encKey, { provider: ctx.provider, ...(audience.encKey.kid ? { kid: audience.encKey.kid } : {}) });
    responseCnf = new Map([[1, coseKeyToMap(popKey)]]);
  }

  const signer = ctx.keys.current().key;
  let token: Uint8Array;
  switch (audience.protection) {
    case 'sign1':
      token = createCwt(claims, signer, { provider: ctx.provider });
      break;
    case 'mac0':
      token = createCwt(claims, audience.macKey, { provider: ctx.provider, alg: ALG.HMAC_256_64 });
      break;
    case 'encrypt0':
      token = createCwt(claims, signer, { provider: ctx.provider, encryptTo: audience.encKey, encryptAlg: ALG.AES_CCM_16_64_128 });
      break;
  }
  const accessToken = audience.referenceTokens ? ctx.provider.randomBytes(REFERENCE_BYTES) : token;
  const hash = toHex(tokenHash(accessToken, ctx.provider));
  await ctx.store.recordToken({
    cti: toHex(cti),
    tokenHash: hash,
    audience: audience.id,
    clientId: req.client.id,
    subject: req.subject,
    scope: req.scope,
    issuedAt: now,
    expiresAt: now + lifetime,
    cnf: encodeCbor(cnfToMap(claims.cnf)),
    reference: audience.referenceTokens,
    revoked: false,
    ...(req.family ? { family: req.family } : {}),
    ...(exiSequence !== undefined ? { exiSequence: Number(exiSequence) } : {}),
  });
  const out: IssuedToken = { accessToken, scope: req.scope, tokenHash: hash, cti };
  if (!audience.clockless) out.expiresIn = lifetime;
  if (responseCnf) out.cnf = responseCnf;
  // RFC 9201 §5: rs_cnf tells an asymmetric-key client which key the RS will prove itself with.
  if (reqCnf && audience.rsKey) out.rsCnf = new Map([[1, coseKeyToMap(publicCoseKey(audience.rsKey))]]);
  return out;
}
