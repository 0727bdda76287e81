/**
 * Issuance: builds the CWT for one grant decision (DESIGN.md "Access token"), records it, and
 * says what the client needs back. Pure of HTTP: the token endpoint calls this, tests call it
 * directly. Protection, exp or exi, tag 61 and reference tokens follow the audience's registration;
 * the token itself is made by cose/'s mintAccessToken, as the simulator's and the tests' issuers do.
 */
import {
  ALG,
  CLAIM_MESSAGE_POP,
  cnfFromMap,
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
} from '../cose/index.js';
import { invalidRequest } from './errors.js';
import { scopeWireValue } from './scope-forms.js';
import type { SigningKeys } from './signing-keys.js';
import type { AudienceRecord, AuthzStore, ClientRecord, IssuedTokenRecord } from './store.js';

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

/** Reference token handles: 256 bits of randomness, unguessable. */
const REFERENCE_BYTES = 32;

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
  const { audience } = req;
  const lifetime = audience.policy.lifetime;
  const reqCnf = parseReqCnf(req.reqCnf);
  const signer = ctx.keys.current().key;
  // How the audience reads tokens: Sign1, Mac0 under its shared key, or Sign1 inside Encrypt0.
  const protection =
    audience.protection === 'mac0'
      ? { key: audience.macKey, alg: ALG.HMAC_256_64 }
      : audience.protection === 'encrypt0'
        ? { key: signer, encryptTo: audience.encKey, encryptAlg: ALG.AES_CCM_16_64_128 }
        : { key: signer };
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
        cnf: reqCnf ?? { sealFor: audience.encKey },
        ...(req.cnonce ? { cnonce: req.cnonce } : {}),
        // Chosen at registration (register-client --message-pop): the broker then checks every PUBLISH.
        ...(req.client.messagePop ? { extra: new Map<CborValue, CborValue>([[CLAIM_MESSAGE_POP, true]]) } : {}),
      },
      { ...protection, untagged: audience.policy.untaggedTokens === true, clock: ctx.clock, provider: ctx.provider },
    );
    const { claims } = minted;
    const accessToken = audience.referenceTokens ? ctx.provider.randomBytes(REFERENCE_BYTES) : minted.token;
    // Over the canonical bytes (cose/token-hash.ts): an untagged token has the hash of its tagged
    // form, so the revocation list matches it whichever form reaches the device or the broker.
    const hash = toHex(tokenHash(accessToken, ctx.provider));
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
      cnf: encodeCbor(cnfToMap(claims.cnf!)),
      reference: audience.referenceTokens,
      revoked: false,
      ...(req.family ? { family: req.family } : {}),
      ...(exiSequence !== undefined ? { exiSequence: Number(exiSequence) } : {}),
    };
  };
  // A clock-less token takes its sequence number and is recorded in one transaction, so no
  // revocation list's exi floor covers a number whose token is still being minted (store.ts).
  if (audience.clockless) await ctx.store.recordExiToken(audience.id, mint);
  else await ctx.store.recordToken(mint(undefined));
  const { minted, accessToken, hash } = issued!;
  const cti = minted.claims.cti!;
  const out: IssuedToken = { accessToken, scope: req.scope, tokenHash: hash, cti };
  if (!audience.clockless) out.expiresIn = lifetime;
  if (minted.popKey) out.cnf = new Map([[1, coseKeyToMap(minted.popKey)]]);
  // RFC 9201 §5: rs_cnf tells an asymmetric-key client which key the RS will prove itself with.
  if (reqCnf && audience.rsKey) out.rsCnf = new Map([[1, coseKeyToMap(publicCoseKey(audience.rsKey))]]);
  return out;
}
