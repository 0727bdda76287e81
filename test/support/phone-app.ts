/**
 * A service with one public client (`phone`: an app on many phones, no secret, RFC 6749 §2.1) for
 * audience `ekg`, and users whose password is `<name>-password`; SQLite on disk in `dir`.
 */
import { join } from 'node:path';
import { nativeProvider } from '../../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, registerUser, SqliteStore, type AuthzServer, type AuthzServerOptions } from '../../authz/index.js';

export const PHONE_REDIRECT_URI = 'http://127.0.0.1:9/cb';

export async function startPhoneService(
  dir: string,
  users: string[],
  opts: Partial<AuthzServerOptions> = {},
): Promise<{ store: SqliteStore; server: AuthzServer; base: string }> {
  const store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read'] });
  await registerClient(store, { id: 'phone', audiences: ['ekg'], scopes: ['read'], grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [PHONE_REDIRECT_URI] });
  for (const u of users) await registerUser(store, u, `${u}-password`);
  const server = await createAuthzServer({ store, dataDir: dir, ...opts });
  return { store, server, base: (await server.listen(0)).url };
}
