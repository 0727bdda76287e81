/**
 * The proof of possession (DESIGN.md "PoP proof"): a COSE_Sign1 (asymmetric cnf) or COSE_Mac0
 * (symmetric cnf) by the token's cnf key over a CBOR map that binds the purpose, the verifier's
 * audience, the token's hash, a freshness value and the request. Like DPoP (RFC 9449), but
 * binary and transport-neutral. Shared by devices and the broker (purpose "mqtt-connect").
 */
import {
  CoseError,
  checkBytes,
  constantTimeEqual,
  createMac0,
  createSign1,
  decodeCbor,
  encodeCbor,
  isMap,
  verifyMac0,
  verifySign1,
  type CborMap,
  type Clock,
  type CoseKey,
  type CryptoProvider,
} from '../cose/index.js';
import { portableProvider } from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';
import type { NonceIssuer } from './nonce-issuer.js';
import type { ReplayCache } from './replay-cache.js';

export const POP_LABEL = {
  purpose: 1,
  audience: 2,
  tokenHash: 3,
  nonce: 4,
  iat: 5,
  jti: 6,
  method: 7,
  resource: 8,
  payloadHash: 9,
  clientId: 10,
} as const;

/** A proof is a few hundred bytes; anything much larger is not one of ours. */
export const MAX_PROOF_BYTES = 1024;
/** DESIGN.md: a jti carries at least 64 random bits; 64 bytes is more than any sane client sends. */
export const MIN_JTI_BYTES = 8;
export const MAX_JTI_BYTES = 64;
/** Seconds either side of the verifier's clock that an iat may lie (DPoP uses a similar window). */
export const DEFAULT_IAT_WINDOW = 60;
const MAX_TEXT = 512; // purpose, audience, method, resource/topic and client id are all short
/** Proof signature/MAC algorithms accepted by default: what keybound's keys produce. */
export const DEFAULT_PROOF_ALGORITHMS: readonly number[] = [-8, -7, 4, 5];

export interface PopProofFields {
  purpose: string;
  audience: string;
  tokenHash: Uint8Array;
  /** Freshness: a nonce the verifier issued, OR iat (seconds) plus a random jti. */
  nonce?: Uint8Array;
  iat?: number;
  jti?: Uint8Array;
  method?: string;
  /** A REST resource path, or an MQTT topic. */
  resource?: string;
  /** SHA-256 of the request payload. */
  payloadHash?: Uint8Array;
  clientId?: string;
}

function bad(message: string, cause?: unknown): DeviceError {
  return new DeviceError(DEVICE_ERR.BAD_PROOF, `PoP proof: ${message}`, cause === undefined ? undefined : { cause });
}

export function popProofToMap(f: PopProofFields): CborMap {
  const m: CborMap = new Map();
  m.set(POP_LABEL.purpose, f.purpose);
  m.set(POP_LABEL.audience, f.audience);
  m.set(POP_LABEL.tokenHash, f.tokenHash);
  if ((f.nonce === undefined) === (f.iat === undefined)) throw bad('needs exactly one of nonce(4) and iat(5)');
  if (f.nonce !== undefined) m.set(POP_LABEL.nonce, f.nonce);
  if (f.iat !== undefined) {
    if (!Number.isSafeInteger(f.iat)) throw bad('iat(5) must be an integer');
    if (!f.jti || f.jti.length < MIN_JTI_BYTES || f.jti.length > MAX_JTI_BYTES) throw bad(`jti(6) must be ${MIN_JTI_BYTES} to ${MAX_JTI_BYTES} bytes`);
    m.set(POP_LABEL.iat, f.iat);
    m.set(POP_LABEL.jti, f.jti);
  }
  if (f.method !== undefined) m.set(POP_LABEL.method, f.method);
  if (f.resource !== undefined) m.set(POP_LABEL.resource, f.resource);
  if (f.payloadHash !== undefined) m.set(POP_LABEL.payloadHash, f.payloadHash);
  if (f.clientId !== undefined) m.set(POP_LABEL.clientId, f.clientId);
  return m;
}

export function popProofFromMap(value: unknown): PopProofFields {
  if (!isMap(value as never)) throw bad('payload must be a CBOR map');
  const m = value as CborMap;
  const text = (label: number, name: string, required: boolean): string | undefined => {
    const v = m.get(label);
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || v.length > MAX_TEXT) throw bad(`${name}(${label}) must be a text string`);
    return v;
  };
  const bytes = (label: number, name: string, ...lengths: number[]): Uint8Array | undefined => {
    const v = m.get(label);
    if (v === undefined) return undefined;
    try {
      return checkBytes(v, `${name}(${label})`, ...lengths);
    } catch (cause) {
      throw bad((cause as Error).message);
    }
  };
  for (const label of m.keys()) {
    if (typeof label !== 'number' || label < 1 || label > 10) throw bad(`label ${String(label)} is not understood`);
  }
  const f: PopProofFields = {
    purpose: text(POP_LABEL.purpose, 'purpose', true)!,
    audience: text(POP_LABEL.audience, 'audience', true)!,
    tokenHash: bytes(POP_LABEL.tokenHash, 'token hash') ?? (() => { throw bad('token hash(3) missing'); })(),
  };
  const nonce = bytes(POP_LABEL.nonce, 'nonce');
  const iat = m.get(POP_LABEL.iat);
  const jti = bytes(POP_LABEL.jti, 'jti');
  if ((nonce === undefined) === (iat === undefined)) throw bad('needs exactly one of nonce(4) and iat(5)');
  if (nonce) f.nonce = nonce;
  if (iat !== undefined) {
    if (typeof iat !== 'number' || !Number.isSafeInteger(iat)) throw bad('iat(5) must be an integer');
    if (!jti || jti.length < MIN_JTI_BYTES || jti.length > MAX_JTI_BYTES) throw bad(`jti(6) must be ${MIN_JTI_BYTES} to ${MAX_JTI_BYTES} bytes`);
    f.iat = iat;
    f.jti = jti;
  } else if (jti) throw bad('jti(6) without iat(5)');
  const method = text(POP_LABEL.method, 'method', false);
  const resource = text(POP_LABEL.resource, 'resource', false);
  const payloadHash = bytes(POP_LABEL.payloadHash, 'payload hash', 32);
  const clientId = text(POP_LABEL.clientId, 'client id', false);
  if (method !== undefined) f.method = method;
  if (resource !== undefined) f.resource = resource;
  if (payloadHash) f.payloadHash = payloadHash;
  if (clientId !== undefined) f.clientId = clientId;
  return f;
}

export interface CreatePopProofOptions {
  provider?: CryptoProvider;
  /** Put the key's kid in the protected header (default: the key's kid, if any). */
  kid?: Uint8Array;
}

/** Signs (or MACs, for a symmetric key) the proof with the PoP key. */
export function createPopProof(fields: PopProofFields, key: CoseKey, opts: CreatePopProofOptions = {}): Uint8Array {
  const payload = encodeCbor(popProofToMap(fields));
  const provider = opts.provider ?? portableProvider;
  const kid = opts.kid ?? key.kid;
  const common = { provider, ...(kid ? { kid } : {}) };
  return key.kty === 'Symmetric' ? createMac0(payload, key, common) : createSign1(payload, key, common);
}

/** SHA-256 of a request payload, as label 9 carries it. */
export function payloadHash(payload: Uint8Array, provider: CryptoProvider = portableProvider): Uint8Array {
  return provider.digest('SHA-256', payload);
}

/** What the verifier knows about the request; every field given must be bound, and only those. */
export interface ExpectedProof {
  purpose: string;
  audience: string;
  tokenHash: Uint8Array;
  method?: string;
  resource?: string;
  /** The request payload (hashed here) or its hash. */
  payload?: Uint8Array;
  payloadHash?: Uint8Array;
  clientId?: string;
}

/** Which kinds of freshness a verifier takes, and the window for iat. Nothing here is spent. */
export interface ProofFreshnessPolicy {
  clock: Clock;
  /** Accept proofs bound to a nonce this verifier issued (default true). */
  nonce?: boolean;
  /** Accept proofs with iat plus a random jti (default true). */
  iat?: boolean;
  /** Seconds either side of now an iat may be (default DEFAULT_IAT_WINDOW). */
  iatWindow?: number;
}

/**
 * The freshness value a verified proof carries, for the caller to claim in its own store (the
 * device's RAM cache, the broker's Redis): a nonce to consume, or a jti to hold until `until`,
 * when its iat leaves the window and the window itself refuses it.
 */
export type ProofFreshness = { kind: 'nonce'; nonce: Uint8Array } | { kind: 'iat'; iat: number; jti: Uint8Array; until: number };

export interface VerifiedPopProof {
  fields: PopProofFields;
  freshness: ProofFreshness;
}

export interface VerifyPopProofOptions {
  provider?: CryptoProvider;
  algorithms?: readonly number[];
}

function same(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return constantTimeEqual(a, b);
}

/**
 * Verifies a proof against the cnf key and the request: the signature first (so a forger learns
 * nothing and spends nothing), then every bound field, then that its freshness is of a kind this
 * verifier takes and its iat is inside the window. It spends nothing: the caller claims the
 * returned nonce or jti (claimProofFreshness, or an async shared store), and only then acts.
 * Throws DeviceError `bad_proof` or `replay`.
 */
export function verifyPopProof(
  proof: Uint8Array,
  key: CoseKey,
  expected: ExpectedProof,
  policy: ProofFreshnessPolicy,
  opts: VerifyPopProofOptions = {},
): VerifiedPopProof {
  const provider = opts.provider ?? portableProvider;
  if (!(proof instanceof Uint8Array) || proof.length > MAX_PROOF_BYTES) throw bad(`must be at most ${MAX_PROOF_BYTES} bytes`);
  let payload: Uint8Array;
  try {
    const vo = { provider, algorithms: opts.algorithms ?? DEFAULT_PROOF_ALGORITHMS, limits: { maxBytes: MAX_PROOF_BYTES, maxDepth: 4 } };
    payload = key.kty === 'Symmetric' ? verifyMac0(proof, key, vo).payload : verifySign1(proof, key, vo).payload;
  } catch (cause) {
    if (cause instanceof CoseError) throw bad(`does not verify with the cnf key (${cause.code})`, cause);
    throw cause;
  }
  let fields: PopProofFields;
  try {
    fields = popProofFromMap(decodeCbor(payload, { maxBytes: MAX_PROOF_BYTES, maxDepth: 2 }));
  } catch (cause) {
    if (cause instanceof DeviceError) throw cause;
    throw bad(`payload is not a valid CBOR map (${(cause as CoseError).code ?? 'error'})`, cause);
  }
  if (fields.purpose !== expected.purpose) throw bad('purpose(1) does not match');
  if (fields.audience !== expected.audience) throw bad('audience(2) is not this verifier');
  if (!constantTimeEqual(fields.tokenHash, expected.tokenHash)) throw bad('token hash(3) is not the presented token');
  if (fields.method !== expected.method) throw bad('method(7) does not match the request');
  if (fields.resource !== expected.resource) throw bad('resource(8) does not match the request');
  if (fields.clientId !== expected.clientId) throw bad('client id(10) does not match');
  const wantHash = expected.payloadHash ?? (expected.payload ? payloadHash(expected.payload, provider) : undefined);
  if (!same(fields.payloadHash, wantHash)) throw bad('payload hash(9) does not match the request');

  if (fields.nonce) {
    if (policy.nonce === false) throw bad('nonce(4) proofs are not accepted here');
    return { fields, freshness: { kind: 'nonce', nonce: fields.nonce } };
  }
  if (policy.iat === false) throw bad('iat(5) proofs are not accepted here');
  const window = policy.iatWindow ?? DEFAULT_IAT_WINDOW;
  if (Math.abs(policy.clock() - fields.iat!) > window) throw new DeviceError(DEVICE_ERR.REPLAY, 'PoP proof: iat(5) outside the acceptance window');
  // Held until its iat can no longer be accepted: after that the window itself refuses it.
  return { fields, freshness: { kind: 'iat', iat: fields.iat!, jti: fields.jti!, until: fields.iat! + window } };
}

/** Where a synchronous verifier (a device) spends a proof's freshness. */
export interface FreshnessStores {
  nonces?: NonceIssuer;
  replayCache?: ReplayCache;
  /** Whose proof it is (the token's subject): one owner holds only a share of the jti cache. */
  owner?: string;
}

/** Spends a verified proof's nonce or jti, once; throws `replay` (or `busy` when the jti cache is full). */
export function claimProofFreshness(freshness: ProofFreshness, stores: FreshnessStores): void {
  if (freshness.kind === 'nonce') {
    if (!stores.nonces?.consume(freshness.nonce)) throw new DeviceError(DEVICE_ERR.REPLAY, 'PoP proof: nonce(4) unknown, expired or already used');
    return;
  }
  if (!stores.replayCache) throw bad('iat(5) proofs are not accepted here');
  if (!stores.replayCache.remember(freshness.jti, freshness.until, stores.owner)) {
    if (stores.replayCache.full(stores.owner)) throw new DeviceError(DEVICE_ERR.BUSY, 'PoP proof: too many iat(5) proofs within the window; retry with the cnonce hint as nonce(4)');
    throw new DeviceError(DEVICE_ERR.REPLAY, 'PoP proof: jti(6) already seen within the window');
  }
}
