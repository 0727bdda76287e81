/** RFC 8628 §3.1-3.2: the device authorization endpoint's logic. */
import { GRANT_DEVICE_CODE, toHex } from '../cose/index.js';
import { textParam, type Params, type ResponseValue } from './ace-params.js';

type TokenResponseLike = Record<string, ResponseValue | undefined>;
import { authenticateClient } from './client-auth.js';
import { AuthzError } from './errors.js';
import { assertGrantAllowed, decideScope, resolveAudience } from './policy.js';
import { lookupHash } from './secret-hash.js';
import { requestedScope, storedReqCnf, type TokenContext } from './token-endpoint.js';
import { scopeToStored } from './scope-forms.js';
import { makeUserCode } from './user-code.js';
import { addressKey } from './client-address.js';
import type { GrantType } from './store.js';

/** RFC 8628 §3.2: minutes to walk to a browser and approve. */
export const DEVICE_CODE_LIFETIME = 600;
/** RFC 8628 §3.2: the default interval is 5 seconds. */
export const DEVICE_POLL_INTERVAL = 5;
/**
 * A public client is authenticated by nothing but its client_id, so anybody can ask for device
 * codes in its name, and each is a row on disk: per address (client-address.ts), this many per
 * window, then 429. Confidential clients authenticate, and are not limited here.
 */
export const DEVICE_AUTHORIZATIONS_PER_ADDRESS = 60;
export const DEVICE_AUTHORIZATION_WINDOW = 60;

export async function handleDeviceAuthorization(ctx: TokenContext, params: Params, authorization: string | undefined, baseUrl: string, remoteAddress = ''): Promise<TokenResponseLike> {
  const { client, method } = await authenticateClient(ctx, params, authorization, { allowPublic: true });
  assertGrantAllowed(client, GRANT_DEVICE_CODE as GrantType);
  const audience = await resolveAudience(ctx.store, client, textParam(params, 'audience'));
  const scope = scopeToStored(decideScope(requestedScope(params), client, audience));
  const reqCnf = storedReqCnf(params, client);
  const deviceCode = toHex(ctx.provider.randomBytes(32));
  const now = Math.floor(ctx.clock());
  if (method === 'none' && (await ctx.store.hitRateLimit(`devauth:ip:${addressKey(remoteAddress)}`, now, DEVICE_AUTHORIZATION_WINDOW)) > DEVICE_AUTHORIZATIONS_PER_ADDRESS) {
    throw new AuthzError('temporarily_unavailable', 'too many device authorizations from this address; retry after the window', { status: 429 });
  }
  for (let attempt = 0; ; attempt++) {
    const userCode = makeUserCode((n) => ctx.provider.randomBytes(n));
    try {
      await ctx.store.putDeviceCode({
        deviceCodeHash: lookupHash(deviceCode),
        userCode,
        clientId: client.id,
        audience: audience.id,
        scope,
        ...(reqCnf ? { reqCnf } : {}),
        expiresAt: now + DEVICE_CODE_LIFETIME,
        status: 'pending',
        interval: DEVICE_POLL_INTERVAL,
        lastPolledAt: 0,
      });
      return {
        device_code: deviceCode,
        user_code: userCode,
        verification_uri: `${baseUrl}/device`,
        verification_uri_complete: `${baseUrl}/device?user_code=${userCode}`,
        expires_in: DEVICE_CODE_LIFETIME,
        interval: DEVICE_POLL_INTERVAL,
      };
    } catch (e) {
      // A user-code collision (UNIQUE) is rare; try a fresh code a few times.
      if (attempt >= 3) throw new AuthzError('server_error', 'could not allocate a user code', { cause: e });
    }
  }
}
