/**
 * The full device's resource server: the core (resource-server-core.ts) with protected sessions
 * (session-table.ts) and the portable provider by default. See the core for what it does.
 */
import { deriveOscoreContext, portableProvider } from '../cose/index.js';
import { createResourceServerCore, type ResourceServer, type ResourceServerOptions } from './resource-server-core.js';
import { createSessionTable } from './session-table.js';

export { PURPOSE_REQUEST, type AuthzInfoResult, type DeviceHandler, type DeviceRequest, type ResourceServer, type ResourceServerOptions } from './resource-server-core.js';

export function createResourceServer(opts: ResourceServerOptions): ResourceServer {
  const provider = opts.provider ?? portableProvider;
  return createResourceServerCore({
    ...opts,
    provider,
    sessions: createSessionTable,
    // RFC 9203 §4.3 then RFC 8613 §3.2. The device answers with the request's nonce (§5.2), so it
    // spends no sender sequence numbers; its contexts live in RAM and a client re-posts after a reboot.
    oscore: { derive: (input) => deriveOscoreContext(input, provider) },
  });
}
