/**
 * JWT access tokens (RFC 9068) for audiences registered with `--token-format jwt`: HTTP resource
 * servers and gateways that speak JOSE. Signed by jose with the service's current signing key
 * (the one CWTs are signed with, published at /jwks.json under the same base64url kid), typ
 * `at+jwt` (§2.1), the claims of §2.2, and always a cnf (keybound issues no bearer tokens):
 * `jkt` for a DPoP key (RFC 9449 §6.1), `jwk` for a req_cnf public key (RFC 7800 §3.2).
 */
import { SignJWT, importJWK, type CryptoKey } from 'jose';
import { ALG, coseKeyToJwk, encodeCbor, publicCoseKey, toBase64Url, toHex, tokenHash, utf8, type CborValue, type CoseKey } from '../cose/index.js';
import { invalidRequest } from './errors.js';
import { X5T_S256 } from '../sender-constraint/index.js';
import { scopeFromStored } from './scope-forms.js';
import type { IssuerContext } from './issuer.js';
import type { AudienceRecord, ClientRecord, IssuedTokenRecord } from './store.js';

/** RFC 9068 §2.1: the media type of JWT access tokens, explicit typing against confusion with ID tokens. */
export const JWT_ACCESS_TOKEN_TYP = 'at+jwt';
const JTI_BYTES = 16;

/**
 * The binding a JWT access token carries (RFC 7800 §3): a DPoP thumbprint, a public key, or the
 * x5t#S256 of the TLS client certificate the client authenticated with (RFC 8705 §3.1).
 */
export type JwtConfirmation = { jkt: string } | { jwk: CoseKey } | { x5t: string };

export interface JwtIssueRequest {
  client: ClientRecord;
  audience: AudienceRecord;
  scope: string;
  subject: string;
  family?: string;
  cnf: JwtConfirmation | undefined;
}

/** Imported private keys by kid: importing costs more than signing. */
const imported = new WeakMap<CoseKey, Promise<CryptoKey>>();

function signingKey(key: CoseKey): Promise<CryptoKey> {
  let k = imported.get(key);
  if (!k) {
    k = importJWK(coseKeyToJwk(key) as never, joseAlg(key)) as Promise<CryptoKey>;
    imported.set(key, k);
  }
  return k;
}

const joseAlg = (key: CoseKey): string => (key.alg === ALG.EdDSA ? 'EdDSA' : 'ES256');

/** RFC 6749 §3.3: space-delimited scope tokens; an AIF grant (keybound's REST/MQTT scopes) as its JSON array. */
function scopeClaim(stored: string): string | unknown {
  const scope = scopeFromStored(stored);
  return scope.kind === 'text' ? scope.tokens.join(' ') : JSON.parse(stored);
}

function cnfClaim(cnf: JwtConfirmation): Record<string, unknown> {
  if ('x5t' in cnf) return { [X5T_S256]: cnf.x5t };
  return 'jkt' in cnf ? { jkt: cnf.jkt } : { jwk: coseKeyToJwk(publicCoseKey(cnf.jwk)) };
}

/** The cnf as introspection reports it (RFC 7662 §2.2 with RFC 9449 §6.2 / RFC 7800). */
function storedCnf(cnf: JwtConfirmation): Uint8Array {
  const claim = cnfClaim(cnf);
  const toCbor = (v: unknown): CborValue =>
    v !== null && typeof v === 'object' ? new Map(Object.entries(v as object).map(([k, x]) => [k, toCbor(x)])) : (v as CborValue);
  return encodeCbor(toCbor(claim));
}

export async function issueJwtAccessToken(ctx: IssuerContext, req: JwtIssueRequest): Promise<{ token: string; record: IssuedTokenRecord; kid: Uint8Array | undefined }> {
  // keybound issues proof-of-possession tokens only: a JWT without cnf would be a bearer token.
  if (!req.cnf) throw invalidRequest('this audience takes JWT access tokens bound to a key: send a DPoP proof, or req_cnf with a public key');
  const signer = ctx.keys.current().key;
  const now = Math.floor(ctx.clock());
  const lifetime = req.audience.policy.lifetime;
  const jti = ctx.provider.randomBytes(JTI_BYTES);
  const token = await new SignJWT({
    // RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti; scope (§2.2.3); cnf (RFC 9449 §6.1).
    client_id: req.client.id,
    scope: scopeClaim(req.scope),
    cnf: cnfClaim(req.cnf),
  } as Record<string, unknown>)
    .setProtectedHeader({ alg: joseAlg(signer), typ: JWT_ACCESS_TOKEN_TYP, ...(signer.kid ? { kid: toBase64Url(signer.kid) } : {}) })
    .setIssuer(ctx.issuer)
    .setAudience(req.audience.id)
    .setSubject(req.subject)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetime)
    .setJti(toBase64Url(jti))
    .sign(await signingKey(signer));
  const record: IssuedTokenRecord = {
    cti: toHex(jti),
    // As for any token: SHA-256 of the bytes the client presents (here the JWT's ASCII), what
    // /introspect and /revoke look it up by (ace-params.ts tokenParam).
    tokenHash: toHex(tokenHash(utf8(token), ctx.provider)),
    audience: req.audience.id,
    clientId: req.client.id,
    subject: req.subject,
    scope: req.scope,
    issuedAt: now,
    expiresAt: now + lifetime,
    cnf: storedCnf(req.cnf),
    reference: false,
    revoked: false,
    ...(req.family ? { family: req.family } : {}),
  };
  return { token, record, kid: signer.kid };
}
