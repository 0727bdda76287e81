/**
 * The two endpoints a device exposes, as functions from request bytes to answer bytes, for any
 * transport (the MQTT adapter, CoAP, a serial line). Every refusal becomes an answer body with
 * its code and RFC 9200 §5.3 hints; nothing a client sends can throw past this point.
 */
import { Tag, decodeCbor, refusalWire } from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';
import type { ResourceServer } from './resource-server.js';
import {
  decodeAuthzInfoRequest,
  decodePopRequest,
  encodeAuthzInfoResponse,
  encodeResponseBody,
  type DeviceResponseBody,
} from './device-messages.js';

/** A refusal as an answer body: code, error name and hints; never the token or a key. */
export function refusalBody(error: unknown): DeviceResponseBody {
  if (error instanceof DeviceError) {
    // The CoAP code of cose/error-codes.ts (RFC 9200 §5.10.1.1: 4.01, 4.03 for another audience or scope).
    return { code: refusalWire(error.code).coap, error: error.code, ...(error.hints ? { hints: error.hints } : {}) };
  }
  return { code: 500, error: 'internal' };
}

/**
 * RFC 7252 §3: a CoAP message starts with version 1 (0b01xxxxxx); a CBOR map (0xa0-0xbf) or tag
 * (0xc0-) never does, so the relay's `req` tells OSCORE messages and PoP request maps apart.
 */
const isCoapMessage = (body: Uint8Array): boolean => body.length >= 4 && body[0]! >> 6 === 1;

/** authz-info: answers `{}` (or the session parameters), or a refusal body. */
export function serveAuthzInfo(device: ResourceServer, body: Uint8Array): Uint8Array {
  // RFC 9203 §4.1: a CoAP POST /authz-info message, as over UDP (device/oscore-client.ts),
  // answered with the CoAP message a CoAP device sends.
  try {
    if (isCoapMessage(body)) return device.serveCoap(body);
    const result = device.authzInfo(decodeAuthzInfoRequest(body));
    return encodeAuthzInfoResponse(result.session ? { nonce2: result.session.nonce2, sessionId: result.session.id } : {});
  } catch (error) {
    return encodeResponseBody(refusalBody(error));
  }
}

/** req: an OSCORE-protected CoAP message (answered with one), a protected-session message (COSE_Encrypt0) or a PoP request map. */
export function serveRequest(device: ResourceServer, body: Uint8Array): Uint8Array {
  try {
    if (isCoapMessage(body)) return device.serveCoap(body);
    if (isEncrypt0(body)) return device.handleSessionMessage(body);
    return encodeResponseBody(device.handlePopRequest(decodePopRequest(body)));
  } catch (error) {
    return encodeResponseBody(refusalBody(error));
  }
}

function isEncrypt0(body: Uint8Array): boolean {
  // A tag-16 head byte is 0xd0; checked by decoding so a look-alike map is not misread.
  if (body[0] !== 0xd0) return false;
  try {
    const v = decodeCbor(body, { maxBytes: 4096, maxDepth: 4 });
    return v instanceof Tag && v.tag === 16;
  } catch {
    throw new DeviceError(DEVICE_ERR.BAD_REQUEST, 'request is not valid CBOR');
  }
}
