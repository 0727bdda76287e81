/**
 * The client's end of what a device offers: post a token (opening a protected session when the
 * PoP key is symmetric, RFC 9203 §4.1), then send protected requests and read protected answers,
 * or build PoP proofs for one-shot requests.
 */
import { portableProvider, tokenHash, type CoseKey, type CryptoProvider } from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';
import { createPopProof, payloadHash } from './pop-proof.js';
import { deriveSessionKeys } from './session-keys.js';
import { ProtectedSession, encodePartialIv } from './protected-session.js';
import type { DeviceStorage } from './storage.js';
import { PURPOSE_REQUEST } from './resource-server.js';
import {
  decodeAuthzInfoResponse,
  decodeResponseBody,
  encodeAuthzInfoRequest,
  encodePopRequest,
  encodeRequestBody,
  type DeviceRequestBody,
  type DeviceResponseBody,
} from './device-messages.js';

/** RFC 9203 §4.1: N1 of 8 bytes or more; 16 as the device's N2. */
export const NONCE1_BYTES = 16;

/** Starts a session: the authz-info body to send, and a function to finish on the answer. */
export function beginSession(
  token: Uint8Array,
  popKey: CoseKey,
  storage: DeviceStorage,
  opts: { provider?: CryptoProvider; alg?: number } = {},
): { body: Uint8Array; finish(response: Uint8Array): ClientSession } {
  if (popKey.kty !== 'Symmetric' || !popKey.k) throw new DeviceError(DEVICE_ERR.BAD_REQUEST, 'a protected session needs a symmetric PoP key');
  const provider = opts.provider ?? portableProvider;
  const nonce1 = provider.randomBytes(NONCE1_BYTES);
  return {
    body: encodeAuthzInfoRequest({ token, nonce1 }),
    finish(response) {
      const { nonce2, sessionId } = decodeAuthzInfoResponse(response);
      if (!nonce2 || !sessionId) throw new DeviceError(DEVICE_ERR.BAD_REQUEST, 'authz-info answer lacks nonce2(42) or ace_server_recipientid(44)');
      const keys = deriveSessionKeys(popKey.k!, nonce1, nonce2, sessionId, opts.alg ?? 10, provider);
      return new ClientSession(ProtectedSession.create('client', keys, storage, provider));
    },
  };
}

export class ClientSession {
  readonly session: ProtectedSession;
  constructor(session: ProtectedSession) {
    this.session = session;
  }

  /** Resumes a persisted session (after the client rebooted). */
  static load(id: Uint8Array, storage: DeviceStorage, provider: CryptoProvider = portableProvider): ClientSession | undefined {
    const s = ProtectedSession.load('client', id, storage, provider);
    return s ? new ClientSession(s) : undefined;
  }

  /** A protected request; keep `requestPiv` to open its answer. */
  request(body: DeviceRequestBody): { message: Uint8Array; requestPiv: Uint8Array } {
    const message = this.session.protect(encodeRequestBody(body));
    const requestPiv = encodePartialIv(this.session.nextSequence - 1);
    return { message, requestPiv };
  }

  /** Opens a protected answer to the request with `requestPiv`. */
  response(message: Uint8Array, requestPiv: Uint8Array): DeviceResponseBody {
    return decodeResponseBody(this.session.unprotect(message, requestPiv).plaintext);
  }
}

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
