/**
 * Certificate-bound access tokens (RFC 8705 §3) for clients that authenticated with their TLS
 * certificate: a JWT access token (RFC 9068, signed with jose by the service's current signing
 * key, so /jwks.json verifies it) whose `cnf` is `{ "x5t#S256": thumbprint }` (§3.1). A resource
 * server or the gateway compares the thumbprint with the certificate presented to it (§3.2).
 *
 * Why a JWT and not a CWT: the CWT Confirmation Methods registry (RFC 8747 §7.2) has no member
 * for a certificate thumbprint, and our CWT verifiers (device, broker) require a COSE_Key cnf they
 * can check a COSE proof against; a CWT with an x5t#S256 cnf would be a token nobody of ours can
 * use. The certificate binding is an HTTP-side binding, so its token is the HTTP side's format.
 */
import { createHash } from 'node:crypto';
import { SignJWT } from 'jose';
import { DEFAULT_ACE_PROFILE, encodeCbor, toBase64Url, toHex } from '../cose/index.js';
import { currentJwsSigner } from './jws-signer.js';
import { X5T_S256 } from '../sender-constraint/index.js';
import { scopeWireValue } from './scope-forms.js';
import type { IssuedToken, IssueRequest, IssuerContext } from './issuer.js';

/** RFC 9068 §2.1: the media type of a JWT access token, in its short form. */
export const JWT_ACCESS_TOKEN_TYP = 'at+jwt';
/** RFC 8705 §3: the token is a Bearer token whose use the resource server ties to the TLS certificate. */
export const CERTIFICATE_BOUND_TOKEN_TYPE = 'Bearer';
/** jti: 128 bits of randomness. */
const JTI_BYTES = 16;

/** The store's hash of a JWT access token: hex SHA-256 of its ASCII bytes. */
export function jwtTokenHash(jwt: string): string {
  return createHash('sha256').update(jwt, 'ascii').digest('hex');
}

export async function issueCertificateBoundJwt(ctx: IssuerContext, req: IssueRequest, thumbprint: string): Promise<IssuedToken> {
  const signer = await currentJwsSigner(ctx.keys);
  const now = Math.floor(ctx.clock());
  const lifetime = req.audience.policy.lifetime;
  const cti = ctx.provider.randomBytes(JTI_BYTES);
  const scope = scopeWireValue(req.scope);
  const jwt = await new SignJWT({
    // RFC 9068 §2.2.3: scope is a space-separated string; an AIF grant travels as its JSON text.
    scope: typeof scope === 'string' ? scope : JSON.stringify(scope),
    client_id: req.client.id,
    cnf: { [X5T_S256]: thumbprint },
  })
    .setProtectedHeader({ alg: signer.alg, typ: JWT_ACCESS_TOKEN_TYP, kid: signer.kid })
    .setIssuer(ctx.issuer)
    .setSubject(req.subject)
    .setAudience(req.audience.id)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetime)
    .setJti(toBase64Url(cti))
    .sign(signer.key);
  const accessToken = new TextEncoder().encode(jwt);
  // Recorded like every token, by the SHA-256 of its bytes, so /introspect, /revoke and
  // `authz revoke --client` find it; the cnf column holds the binding, CBOR as for CWTs.
  const hash = jwtTokenHash(jwt);
  await ctx.store.recordToken({
    cti: toHex(cti),
    tokenHash: hash,
    audience: req.audience.id,
    clientId: req.client.id,
    subject: req.subject,
    scope: req.scope,
    issuedAt: now,
    expiresAt: now + lifetime,
    cnf: encodeCbor(new Map([[X5T_S256, thumbprint]])),
    reference: false,
    revoked: false,
    ...(req.family ? { family: req.family } : {}),
  });
  ctx.onIssued?.({ clientId: req.client.id, audience: req.audience.id, subject: req.subject, kid: signer.kidHex, tokenHash: hash, cti: toHex(cti), reference: false, clockless: false });
  return { accessToken, jwt, tokenType: CERTIFICATE_BOUND_TOKEN_TYPE, expiresIn: lifetime, scope: req.scope, tokenHash: hash, cti, aceProfile: DEFAULT_ACE_PROFILE };
}
