/**
 * The provisioning bundle: what a device is given at manufacture ("pre-provisioned trust").
 * One deterministic CBOR file, and a JSON twin for people. Decoding is all or nothing: a bundle
 * that is malformed, expired, or has no trust anchor is refused whole.
 */
import { CoseError, CoseKeyError, ERR } from './errors.js';
import { decodeCbor } from './cbor-decode.js';
import { encodeCbor } from './cbor-encode.js';
import { asSafeInteger, isMap, type CborMap, type CborValue } from './cbor-value.js';
import { coseKeyFromMap, coseKeyToMap, type CoseKey } from './cose-key.js';
import { fromBase64Url, toBase64Url } from './bytes.js';

export class ProvisioningError extends CoseError {
  static override readonly errorName: string = 'ProvisioningError';
}

export const BUNDLE_VERSION = 1;
/** A bundle is a few keys and names; anything larger is not one. */
export const MAX_BUNDLE_BYTES = 8 * 1024;
const MAX_ANCHORS = 16;

export const BUNDLE_LABEL = {
  version: 1,
  deviceId: 2,
  audience: 3,
  issuer: 4,
  trustAnchors: 5,
  deviceKey: 6,
  brokerUrl: 7,
  asUrl: 8,
  notAfter: 9,
} as const;

export interface ProvisioningBundle {
  version: 1;
  deviceId: string;
  /** The audience name tokens for this device carry in aud. */
  audience: string;
  /** The authorization service's iss. */
  issuer: string;
  /** Public keys of the service (by kid), and/or Symmetric keys shared with it. */
  trustAnchors: CoseKey[];
  /** The device's own key pair, when it also acts as a client. */
  deviceKey?: CoseKey;
  brokerUrl?: string;
  asUrl?: string;
  /** Seconds since the epoch after which the bundle must not be loaded. */
  notAfter?: number;
}

function bad(message: string): ProvisioningError {
  return new ProvisioningError('ERR_BUNDLE_INVALID', `provisioning bundle: ${message}`);
}

export function validateBundle(bundle: ProvisioningBundle, now?: number): ProvisioningBundle {
  if (bundle.version !== BUNDLE_VERSION) throw bad(`version ${String(bundle.version)} is not supported`);
  if (!bundle.deviceId) throw bad('deviceId missing');
  if (!bundle.audience) throw bad('audience missing');
  if (!bundle.issuer) throw bad('issuer missing');
  if (!Array.isArray(bundle.trustAnchors) || bundle.trustAnchors.length === 0) {
    throw new ProvisioningError('ERR_BUNDLE_NO_TRUST_ANCHOR', 'provisioning bundle: no trust anchor');
  }
  if (bundle.trustAnchors.length > MAX_ANCHORS) throw bad(`more than ${MAX_ANCHORS} trust anchors`);
  for (const key of bundle.trustAnchors) {
    if (key.d) throw bad('a trust anchor must not carry a private key');
    if (!key.kid) throw bad('every trust anchor needs a kid');
  }
  if (now !== undefined && bundle.notAfter !== undefined && now > bundle.notAfter) {
    throw new ProvisioningError('ERR_BUNDLE_EXPIRED', 'provisioning bundle: expired');
  }
  return bundle;
}

export function encodeProvisioningBundle(bundle: ProvisioningBundle): Uint8Array {
  validateBundle(bundle);
  const m: CborMap = new Map<CborValue, CborValue>([
    [BUNDLE_LABEL.version, bundle.version],
    [BUNDLE_LABEL.deviceId, bundle.deviceId],
    [BUNDLE_LABEL.audience, bundle.audience],
    [BUNDLE_LABEL.issuer, bundle.issuer],
    [BUNDLE_LABEL.trustAnchors, bundle.trustAnchors.map(coseKeyToMap)],
  ]);
  if (bundle.deviceKey) m.set(BUNDLE_LABEL.deviceKey, coseKeyToMap(bundle.deviceKey));
  if (bundle.brokerUrl) m.set(BUNDLE_LABEL.brokerUrl, bundle.brokerUrl);
  if (bundle.asUrl) m.set(BUNDLE_LABEL.asUrl, bundle.asUrl);
  if (bundle.notAfter !== undefined) m.set(BUNDLE_LABEL.notAfter, bundle.notAfter);
  return encodeCbor(m);
}

function optionalText(m: CborMap, label: number, name: string): string | undefined {
  const v = m.get(label);
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw bad(`${name}(${label}) must be non-empty text`);
  return v;
}

/** Decodes and validates a bundle; `now` (seconds) enforces notAfter. */
export function decodeProvisioningBundle(bytes: Uint8Array, now?: number): ProvisioningBundle {
  let m: CborValue;
  try {
    m = decodeCbor(bytes, { maxBytes: MAX_BUNDLE_BYTES, maxDepth: 6 });
  } catch (cause) {
    throw new ProvisioningError('ERR_BUNDLE_INVALID', `provisioning bundle: not valid CBOR (${(cause as CoseError).code})`);
  }
  if (!isMap(m)) throw bad('must be a map');
  const anchors = m.get(BUNDLE_LABEL.trustAnchors);
  if (anchors !== undefined && !Array.isArray(anchors)) throw bad('trustAnchors(5) must be an array');
  let trustAnchors: CoseKey[];
  let deviceKey: CoseKey | undefined;
  try {
    trustAnchors = (anchors ?? []).map((k) => coseKeyFromMap(k));
    const dk = m.get(BUNDLE_LABEL.deviceKey);
    deviceKey = dk === undefined ? undefined : coseKeyFromMap(dk);
  } catch (cause) {
    if (cause instanceof CoseKeyError) throw bad(cause.message);
    throw cause;
  }
  const bundle: ProvisioningBundle = {
    version: asSafeInteger(m.get(BUNDLE_LABEL.version)) as 1,
    deviceId: optionalText(m, BUNDLE_LABEL.deviceId, 'deviceId') ?? '',
    audience: optionalText(m, BUNDLE_LABEL.audience, 'audience') ?? '',
    issuer: optionalText(m, BUNDLE_LABEL.issuer, 'issuer') ?? '',
    trustAnchors,
  };
  if (deviceKey) bundle.deviceKey = deviceKey;
  const brokerUrl = optionalText(m, BUNDLE_LABEL.brokerUrl, 'brokerUrl');
  if (brokerUrl) bundle.brokerUrl = brokerUrl;
  const asUrl = optionalText(m, BUNDLE_LABEL.asUrl, 'asUrl');
  if (asUrl) bundle.asUrl = asUrl;
  if (m.has(BUNDLE_LABEL.notAfter)) {
    const notAfter = asSafeInteger(m.get(BUNDLE_LABEL.notAfter));
    if (notAfter === undefined) throw bad('notAfter(9) must be an integer');
    bundle.notAfter = notAfter;
  }
  return validateBundle(bundle, now);
}

type JsonKey = Record<string, string | number | string[]>;

function keyToJson(key: CoseKey): JsonKey {
  const j: JsonKey = { kty: key.kty };
  if (key.kid) j.kid = toBase64Url(key.kid);
  if (key.alg !== undefined) j.alg = key.alg;
  if (key.keyOps) j.keyOps = key.keyOps;
  if (key.crv) j.crv = key.crv;
  for (const f of ['x', 'y', 'd', 'k'] as const) if (key[f]) j[f] = toBase64Url(key[f]!);
  return j;
}

function keyFromJson(j: JsonKey): CoseKey {
  // Round-trip through the CBOR form so the same validation applies to both twins.
  const key: CoseKey = { kty: j.kty as CoseKey['kty'] };
  if (typeof j.kid === 'string') key.kid = fromBase64Url(j.kid);
  if (typeof j.alg === 'number') key.alg = j.alg;
  if (Array.isArray(j.keyOps)) key.keyOps = j.keyOps as CoseKey['keyOps'];
  if (typeof j.crv === 'string') key.crv = j.crv as CoseKey['crv'];
  for (const f of ['x', 'y', 'd', 'k'] as const) if (typeof j[f] === 'string') key[f] = fromBase64Url(j[f] as string);
  return coseKeyFromMap(coseKeyToMap(key));
}

/** The JSON twin, for people: byte strings as base64url. */
export function bundleToJson(bundle: ProvisioningBundle): string {
  validateBundle(bundle);
  const { trustAnchors, deviceKey, ...rest } = bundle;
  return JSON.stringify(
    { ...rest, trustAnchors: trustAnchors.map(keyToJson), ...(deviceKey ? { deviceKey: keyToJson(deviceKey) } : {}) },
    null,
    2,
  );
}

export function bundleFromJson(text: string, now?: number): ProvisioningBundle {
  if (text.length > 4 * MAX_BUNDLE_BYTES) throw bad('too large');
  let j: any;
  try {
    j = JSON.parse(text);
  } catch {
    throw bad('not valid JSON');
  }
  if (typeof j !== 'object' || j === null || !Array.isArray(j.trustAnchors)) throw bad('trustAnchors missing');
  try {
    const bundle: ProvisioningBundle = { ...j, trustAnchors: j.trustAnchors.map(keyFromJson) };
    if (j.deviceKey) bundle.deviceKey = keyFromJson(j.deviceKey);
    return validateBundle(bundle, now);
  } catch (cause) {
    if (cause instanceof ProvisioningError) throw cause;
    throw bad((cause as Error).message);
  }
}
