/**
 * Optional per-message proof of possession. With no TLS, anyone on the path can inject a PUBLISH
 * into a client's TCP stream; a publisher whose token carries the claim MESSAGE_POP_CLAIM makes
 * each payload a COSE_Sign1 (asymmetric cnf) or COSE_Mac0 (symmetric cnf) by its cnf key over
 * the CBOR map { 1 seq, 2 topic, 3 data, 4 connection }, where connection is the jti of the CONNECT
 * proof that opened this connection. The broker verifies it before routing: the key, the topic,
 * the connection, and a sequence number strictly above the last one it accepted on it. Binding the
 * connection is what makes the counter sound with no state kept between connections: a signed
 * PUBLISH recorded on one connection is refused on every other, after a reconnect, at another
 * broker of a cluster, or after a broker restart. Subscribers get the payload unchanged.
 */
import {
  CoseError,
  constantTimeEqual,
  createMac0,
  createSign1,
  decodeCbor,
  encodeCbor,
  isMap,
  verifyMac0,
  verifySign1,
  type CborValue,
  type CoseKey,
  type CryptoProvider,
  CLAIM_MESSAGE_POP,
} from '../cose/index.js';
import { DEFAULT_PROOF_ALGORITHMS } from '../device/index.js';
import { BrokerError, BROKER_ERR } from './errors.js';

/** The claim asking for per-message PoP (cose/cwt-claims.ts). Named `kb_msgpop` where people read it. */
export const MESSAGE_POP_CLAIM = CLAIM_MESSAGE_POP;
export const MESSAGE_POP_CLAIM_NAME = 'kb_msgpop';
export const MESSAGE_POP_LABEL = { seq: 1, topic: 2, data: 3, connection: 4 } as const;
/** A signed message is the data plus ~100 bytes; MQTT payloads for devices are small. */
export const MAX_SIGNED_MESSAGE_BYTES = 64 * 1024;

export interface MessagePopOptions {
  provider: CryptoProvider;
}

/** `connection`: the jti of this connection's CONNECT proof (createConnectCredentials gives it). */
export function createMessagePop(data: Uint8Array, topic: string, seq: number, key: CoseKey, opts: MessagePopOptions & { connection: Uint8Array }): Uint8Array {
  const payload = encodeCbor(
    new Map<CborValue, CborValue>([
      [MESSAGE_POP_LABEL.seq, seq],
      [MESSAGE_POP_LABEL.topic, topic],
      [MESSAGE_POP_LABEL.data, data],
      [MESSAGE_POP_LABEL.connection, opts.connection],
    ]),
  );
  const common = { provider: opts.provider, ...(key.kid ? { kid: key.kid } : {}) };
  return key.kty === 'Symmetric' ? createMac0(payload, key, common) : createSign1(payload, key, common);
}

function bad(message: string): BrokerError {
  return new BrokerError(BROKER_ERR.BAD_PROOF, `message PoP: ${message}`);
}

/** Verifies a signed message for `topic` on the connection opened by `opts.connection`; returns its sequence number and data. */
export function verifyMessagePop(
  message: Uint8Array,
  key: CoseKey,
  topic: string,
  lastSeq: number,
  opts: MessagePopOptions & { connection: Uint8Array },
): { seq: number; data: Uint8Array } {
  if (message.length > MAX_SIGNED_MESSAGE_BYTES) throw bad(`larger than ${MAX_SIGNED_MESSAGE_BYTES} bytes`);
  let payload: Uint8Array;
  try {
    const vo = { provider: opts.provider, algorithms: DEFAULT_PROOF_ALGORITHMS, limits: { maxBytes: MAX_SIGNED_MESSAGE_BYTES, maxDepth: 4 } };
    payload = key.kty === 'Symmetric' ? verifyMac0(message, key, vo).payload : verifySign1(message, key, vo).payload;
  } catch (cause) {
    if (cause instanceof CoseError) throw bad(`does not verify with the cnf key (${cause.code})`);
    throw cause;
  }
  let m: CborValue;
  try {
    m = decodeCbor(payload, { maxBytes: MAX_SIGNED_MESSAGE_BYTES, maxDepth: 2 });
  } catch (cause) {
    throw bad(`payload is not CBOR (${(cause as CoseError).code ?? 'error'})`);
  }
  if (!isMap(m) || m.size !== 4) throw bad('payload must be { 1 seq, 2 topic, 3 data, 4 connection }');
  const seq = m.get(MESSAGE_POP_LABEL.seq);
  const signedTopic = m.get(MESSAGE_POP_LABEL.topic);
  const data = m.get(MESSAGE_POP_LABEL.data);
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw bad('seq(1) must be an unsigned integer');
  if (signedTopic !== topic) throw bad('topic(2) is not the PUBLISH topic');
  if (!(data instanceof Uint8Array)) throw bad('data(3) must be a byte string');
  const connection = m.get(MESSAGE_POP_LABEL.connection);
  if (!(connection instanceof Uint8Array) || !constantTimeEqual(connection, opts.connection)) throw bad('connection(4) is not this connection (recorded on another one?)');
  if (seq <= lastSeq) throw new BrokerError(BROKER_ERR.REPLAY, 'message PoP: seq(1) not above the last accepted');
  return { seq, data };
}
