/**
 * The two endpoints a device exposes, as functions from request bytes to answer bytes, for any
 * transport (the MQTT adapter, CoAP, a serial line). Every refusal becomes an answer body with
 * its code and RFC 9200 §5.3 hints; nothing a client sends can throw past this point.
 */
import { deviceRefusalWire } from '../cose/index.js';
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
    return { code: deviceRefusalWire(error.code).coap, error: error.code, ...(error.hints ? { hints: error.hints } : {}) };
  }
  return { code: 500, error: 'internal' };
}

/**
 * RFC 7252 §3: a CoAP message starts with version 1 (0b01xxxxxx); a CBOR map (0xa0-0xbf) or tag
 * (0xc0-) never does, so the relay's `req` tells OSCORE messages and PoP request maps apart.
 */
const isCoapMessage = (body: Uint8Array): boolean => body.length >= 4 && body[0]! >> 6 === 1;

/** authz-info: answers `{}`, a CoAP message to a CoAP POST /authz-info (RFC 9203 §4.1), or a refusal body. */
export function serveAuthzInfo(device: ResourceServer, body: Uint8Array): Uint8Array {
  // RFC 9203 §4.1: a CoAP POST /authz-info message, as over UDP (device/oscore-client.ts),
  // answered with the CoAP message a CoAP device sends.
  try {
    if (isCoapMessage(body)) return device.serveCoap(body);
    device.authzInfo(decodeAuthzInfoRequest(body));
    return encodeAuthzInfoResponse();
  } catch (error) {
    return encodeResponseBody(refusalBody(error));
  }
}

/** req: an OSCORE-protected CoAP message (answered with one) or a PoP request map. */
export function serveRequest(device: ResourceServer, body: Uint8Array): Uint8Array {
  try {
    if (isCoapMessage(body)) return device.serveCoap(body);
    return encodeResponseBody(device.handlePopRequest(decodePopRequest(body)));
  } catch (error) {
    return encodeResponseBody(refusalBody(error));
  }
}
