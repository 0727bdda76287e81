/**
 * The authorization response's redirect (RFC 6749 §4.1.2), in the mode the client asked for:
 * - query (the default): code or error, state, and `iss` (RFC 9207 §2) as query parameters;
 * - jwt / query.jwt (JARM, "JWT Secured Authorization Response Mode for OAuth 2.0" §2.3.1): the
 *   same parameters as claims of a JWT signed by the service's current key (verifiable with
 *   /jwks.json), with `iss`, `aud` = client_id and a short `exp` (§2.1), in the `response`
 *   query parameter. A browser extension or a proxy log that sees the redirect can no longer
 *   swap the code, and the client knows who issued it.
 */
import { SignJWT } from 'jose';
import { currentJwsSigner } from './jws-signer.js';
import type { TokenContext } from './token-endpoint.js';

/** JARM §2.1: exp is short-lived (at most 10 minutes RECOMMENDED); a redirect takes seconds. */
export const JARM_LIFETIME = 60;
/** What /authorize accepts in response_mode (query is the code flow's default, RFC 6749 §4.1.2). */
export const RESPONSE_MODES = ['query', 'jwt', 'query.jwt'] as const;

export type ResponseMode = 'query' | 'jwt';

/** response_mode as asked; undefined if the service does not support it (form_post, fragment, ...). */
export function responseModeOf(asked: string | null): ResponseMode | undefined {
  if (asked === null || asked === 'query') return 'query';
  // JARM §2.3.4: "jwt" means the default for the response type, query.jwt for code.
  if (asked === 'jwt' || asked === 'query.jwt') return 'jwt';
  return undefined;
}

export async function authorizationRedirect(
  ctx: Pick<TokenContext, 'issuer' | 'keys' | 'clock'>,
  to: { redirectUri: string; clientId: string; mode: ResponseMode },
  params: Record<string, string | undefined>,
): Promise<string> {
  const url = new URL(to.redirectUri);
  const fields = Object.fromEntries(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined));
  if (to.mode === 'query') {
    for (const [k, v] of Object.entries(fields)) url.searchParams.set(k, v);
    // RFC 9207 §2: say who issued the response, against mix-up attacks.
    url.searchParams.set('iss', ctx.issuer);
    return url.toString();
  }
  const signer = await currentJwsSigner(ctx.keys);
  const now = Math.floor(ctx.clock());
  const response = await new SignJWT(fields)
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid })
    .setIssuer(ctx.issuer)
    .setAudience(to.clientId)
    .setIssuedAt(now)
    .setExpirationTime(now + JARM_LIFETIME)
    .sign(signer.key);
  url.searchParams.set('response', response);
  return url.toString();
}
