/**
 * The client's PoP request for a device's `req` endpoint (asymmetric or symmetric cnf, no OSCORE
 * context): the request proven by a PoP proof over its method, resource and payload hash.
 */
import { portableProvider, tokenHash, type CoseKey, type CryptoProvider } from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';
import { createPopProof, payloadHash } from './pop-proof.js';
import { PURPOSE_REQUEST } from './resource-server-core.js';
import { encodePopRequest, type DeviceRequestBody } from './device-messages.js';

/**
 * A one-shot request proven with a PoP proof (DESIGN.md), fresh by a device nonce or by iat + a
 * random jti. Returns the encoded PoP request for the device's `req` endpoint.
 */
export function buildPopRequest(
  args: {
    token: Uint8Array;
    popKey: CoseKey;
    audience: string;
    request: DeviceRequestBody;
    /** Send the whole token along (DPoP style) rather than only its hash. */
    includeToken?: boolean;
    nonce?: Uint8Array;
    /** Seconds, for iat freshness when no nonce is given. */
    now?: number;
  },
  provider: CryptoProvider = portableProvider,
): Uint8Array {
  const hash = tokenHash(args.token, provider);
  const fresh = args.nonce ? { nonce: args.nonce } : { iat: args.now ?? 0, jti: provider.randomBytes(16) };
  if (!args.nonce && args.now === undefined) throw new DeviceError(DEVICE_ERR.BAD_REQUEST, 'a PoP proof needs a nonce or the current time');
  const proof = createPopProof(
    {
      purpose: PURPOSE_REQUEST,
      audience: args.audience,
      tokenHash: hash,
      ...fresh,
      method: args.request.method,
      resource: args.request.resource,
      payloadHash: payloadHash(args.request.payload, provider),
    },
    args.popKey,
    { provider },
  );
  return encodePopRequest({ ...args.request, proof, ...(args.includeToken ? { token: args.token } : { tokenHash: hash }) });
}
