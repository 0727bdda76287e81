/**
 * The full device's resource server: the core (resource-server-core.ts) with the ACE-OSCORE
 * profile (oscore-role.ts) and the portable provider by default. See the core for what it does.
 */
import { portableProvider } from '../cose/index.js';
import { createResourceServerCore, type ResourceServer, type ResourceServerOptions } from './resource-server-core.js';
import { createOscoreRole } from './oscore-role.js';

export { PURPOSE_REQUEST, type AuthzInfoResult, type DeviceHandler, type DeviceRequest, type ResourceServer, type ResourceServerOptions } from './resource-server-core.js';

export function createResourceServer(opts: ResourceServerOptions): ResourceServer {
  const provider = opts.provider ?? portableProvider;
  return createResourceServerCore({
    ...opts,
    provider,
    // The ACE-OSCORE profile (RFC 9203, RFC 8613): /authz-info contexts and OSCORE requests.
    oscore: createOscoreRole,
  });
}
