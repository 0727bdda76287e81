/**
 * Packet sizes bounded before they are buffered. mqtt-packet 9 (aedes' parser) has no size limit:
 * it appends every chunk to a buffer list until the Remaining Length it was announced has
 * arrived, so a CONNECT announcing 256 MB (MQTT 3.1.1 §2.2.3: four length bytes) is held in
 * memory by anyone who can open a socket. This meter reads the fixed header of each packet as the
 * bytes arrive, before the parser sees them, and refuses:
 * - before the client is admitted: any packet, or all bytes together, over MAX_CONNECT_BYTES (a
 *   CONNECT is a client id, a token with its proof, and a Will);
 * - after: any packet whose Remaining Length is over the configured maximum;
 * - a Remaining Length of more than four bytes (§2.2.3: malformed).
 * The wiring (server.ts) closes the socket at the first refusal. Pure: bytes in, verdict out.
 */
import { MAX_PASSWORD_BYTES } from './credentials.js';

/** Before CONNACK: the password (token + proof, as base64url text at most) and 4 KiB for the client id and a Will. */
export const MAX_CONNECT_BYTES = MAX_PASSWORD_BYTES + 4096;
/** After CONNACK, by default: the WebSocket listener's frame limit, and well above a signed message (64 KiB). */
export const DEFAULT_MAX_PACKET_BYTES = 256 * 1024;
/** MQTT 3.1.1 §2.2.3: the largest Remaining Length four bytes can carry. */
export const MQTT_MAX_REMAINING_LENGTH = 268_435_455;

export interface PacketMeter {
  /** Reads `chunk`'s framing; a reason to close the connection, or undefined. */
  feed(chunk: Uint8Array, admitted: boolean): string | undefined;
}

export function createPacketMeter(maxPacketBytes = DEFAULT_MAX_PACKET_BYTES): PacketMeter {
  if (!Number.isSafeInteger(maxPacketBytes) || maxPacketBytes < 2 || maxPacketBytes > MQTT_MAX_REMAINING_LENGTH) {
    throw new RangeError(`maxPacketBytes must be an integer from 2 to ${MQTT_MAX_REMAINING_LENGTH}`);
  }
  let state: 'type' | 'length' | 'body' = 'type';
  let length = 0;
  let lengthBytes = 0;
  let left = 0;
  let beforeAdmission = 0;
  return {
    feed(chunk, admitted) {
      if (!admitted) {
        beforeAdmission += chunk.length;
        if (beforeAdmission > MAX_CONNECT_BYTES) return `more than ${MAX_CONNECT_BYTES} bytes before CONNACK`;
      }
      let i = 0;
      while (i < chunk.length) {
        if (state === 'body') {
          const n = Math.min(left, chunk.length - i);
          left -= n;
          i += n;
          if (left === 0) state = 'type';
          continue;
        }
        if (state === 'type') {
          i += 1;
          state = 'length';
          length = 0;
          lengthBytes = 0;
          continue;
        }
        const byte = chunk[i++]!;
        length += (byte & 0x7f) * 128 ** lengthBytes;
        lengthBytes += 1;
        if (byte & 0x80) {
          if (lengthBytes === 4) return 'Remaining Length longer than four bytes';
          continue;
        }
        const limit = admitted ? maxPacketBytes : MAX_CONNECT_BYTES;
        if (length > limit) return `packet of ${length} bytes over ${limit}`;
        left = length;
        state = left === 0 ? 'type' : 'body';
      }
      return undefined;
    },
  };
}
