/**
 * The client's end of a device under the ACE-OSCORE profile: post the token (RFC 9203 §4.1, as a
 * CoAP POST /authz-info message), derive the context from the answer (§4.3), then send OSCORE-
 * protected CoAP requests (RFC 8613 §8.1) and open the answers (§8.4). The same messages go over
 * CoAP/UDP or as the payload of the broker relay's `ace/<device>/req`.
 */
import {
  OscoreState,
  decodeCoapMessage,
  deriveOscoreContext,
  encodeCbor,
  encodeCoapMessage,
  memoryOscoreStorage,
  oscoreStorageName,
  protectRequest,
  unprotectResponse,
  utf8,
  type CoapMessage,
  type CryptoProvider,
  type OscoreContext,
  type OscoreInputMaterial,
  type OscoreRequestBinding,
  type OscoreStateStorage,
} from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';
import { ACE_OSCORE_PARAM, beginAceOscore, CONTENT_FORMAT_ACE_CBOR } from './authz-info.js';
import type { DeviceRequestBody, DeviceResponseBody } from './device-messages.js';

const METHOD_CODES: Readonly<Record<string, number>> = { GET: 1, POST: 2, PUT: 3, DELETE: 4, FETCH: 5, PATCH: 6, iPATCH: 7 };
const URI_PATH = 11;
const CONTENT_FORMAT = 12;

/** The RFC 7252 §3 code byte as the registry's number (0x45 → 205). */
const codeNumber = (byte: number): number => (byte >> 5) * 100 + (byte & 0x1f);

function pathOptions(resource: string) {
  return resource
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => ({ number: URI_PATH, value: utf8(s) }));
}

/** A CoAP POST /authz-info carrying `payload` as application/ace+cbor. */
export function authzInfoMessage(payload: Uint8Array, token: Uint8Array): Uint8Array {
  return encodeCoapMessage({ code: 2, token, options: [{ number: URI_PATH, value: utf8('authz-info') }, { number: CONTENT_FORMAT, value: new Uint8Array([CONTENT_FORMAT_ACE_CBOR]) }], payload });
}

export class OscoreClient {
  readonly context: OscoreContext;
  readonly state: OscoreState;
  readonly provider: CryptoProvider;
  /**
   * `storage` keeps the sender sequence numbers reserved ahead (RFC 8613 §B.1.1) and the replay
   * window; in memory by default, for a context that dies with the process.
   */
  constructor(context: OscoreContext, provider: CryptoProvider, storage: OscoreStateStorage = memoryOscoreStorage()) {
    this.context = context;
    this.provider = provider;
    this.state = OscoreState.open(context, storage);
  }

  /** An OSCORE-protected request; keep `binding` to open its answer. */
  request(req: DeviceRequestBody, token = new Uint8Array(0)): { message: Uint8Array; binding: OscoreRequestBinding } {
    const code = METHOD_CODES[req.method];
    if (code === undefined) throw new DeviceError(DEVICE_ERR.BAD_REQUEST, 'not a CoAP method');
    const inner: CoapMessage = { code, token, options: pathOptions(req.resource), payload: req.payload };
    const { message, binding } = protectRequest(this.context, this.state, inner, this.provider);
    return { message: encodeCoapMessage(message), binding };
  }

  /**
   * RFC 9203 §4.4, the update of access rights: POST /authz-info under this context, carrying
   * only the new token (one the service issued for `req_cnf` {kid(3): this context's input
   * material id}). The device answers 2.01 with no payload once the new token replaced the old
   * one for this context, or 4.01; open the answer with `response`.
   */
  updateAccessRights(accessToken: Uint8Array, token = new Uint8Array(0)): { message: Uint8Array; binding: OscoreRequestBinding } {
    const payload = encodeCbor(new Map([[ACE_OSCORE_PARAM.access_token, accessToken]]));
    const options = [...pathOptions('/authz-info'), { number: CONTENT_FORMAT, value: new Uint8Array([CONTENT_FORMAT_ACE_CBOR]) }];
    const { message, binding } = protectRequest(this.context, this.state, { code: 2, token, options, payload }, this.provider);
    return { message: encodeCoapMessage(message), binding };
  }

  /**
   * Opens the answer to the request with `binding`. An unprotected answer (the device could not
   * or would not verify: 4.01 "Security context not found", "Replay detected", a dead token) is
   * returned with `error` set to its diagnostic: nothing in it is authenticated.
   */
  response(bytes: Uint8Array, binding: OscoreRequestBinding): DeviceResponseBody & { authenticated: boolean } {
    const outer = decodeCoapMessage(bytes);
    if (!outer.options.some((o) => o.number === 9)) {
      // A diagnostic payload (RFC 7252 §5.5.2) or RFC 9200 §5.3 hints: printable ASCII only, bounded.
      const text = String.fromCharCode(...outer.payload.slice(0, 64)).replace(/[^\x20-\x7e]/g, '?');
      return { code: codeNumber(outer.code), payload: outer.payload, error: text, authenticated: false };
    }
    const inner = unprotectResponse(this.context, this.state, outer, binding, this.provider);
    return { code: codeNumber(inner.code), payload: inner.payload, authenticated: true };
  }
}

/**
 * Starts the exchange: the CoAP POST /authz-info message to send, and `finish` on the device's
 * answer message (2.01) to get the client. Refuses (DeviceError) any other answer.
 */
export function beginOscoreClient(
  accessToken: Uint8Array,
  material: OscoreInputMaterial,
  provider: CryptoProvider,
  opts: { storage?: (name: string) => OscoreStateStorage; clientRecipientId?: Uint8Array } = {},
): { message: Uint8Array; finish(answer: Uint8Array): OscoreClient } {
  const begun = beginAceOscore(accessToken, material, provider, opts.clientRecipientId);
  return {
    message: authzInfoMessage(begun.payload, provider.randomBytes(2)),
    finish(answer) {
      const m = decodeCoapMessage(answer);
      if (m.code !== 0x41) throw new DeviceError(DEVICE_ERR.BAD_REQUEST, `authz-info answered ${codeNumber(m.code)}, not 2.01`);
      const input = begun.finish(m.payload);
      const context = deriveOscoreContext(input, provider);
      // A persistent client names its slot by the derived keys (cose/oscore-state.ts), so a new
      // exchange (new nonces, new keys) never inherits another context's sequence numbers.
      return new OscoreClient(context, provider, opts.storage ? opts.storage(oscoreStorageName(context, provider)) : memoryOscoreStorage());
    },
  };
}
