import { describe, expect, it } from 'vitest';
import {
  bundleFromJson,
  bundleToJson,
  decodeProvisioningBundle,
  encodeCbor,
  encodeProvisioningBundle,
  decodeCbor,
  type CborMap,
  type ProvisioningBundle,
} from '../cose/index.js';
import { secretKey, signingKey } from './support/keys.js';
import { errorCode as code } from './support/error-code.js';

const as = signingKey('Ed25519', 'as-1');
const device = signingKey('Ed25519', 'ekg-abc');
const bundle: ProvisioningBundle = {
  version: 1,
  deviceId: 'tube-123',
  audience: 'tube-123',
  issuer: 'https://as.example',
  trustAnchors: [as.pub, secretKey(16, 'tube-123-shared')],
  deviceKey: device.priv,
  brokerUrl: 'mqtt://127.0.0.1:1883',
  notAfter: 2_000_000_000,
};


describe('provisioning bundles', () => {
  it('round-trip through CBOR and through the JSON twin', () => {
    expect(decodeProvisioningBundle(encodeProvisioningBundle(bundle), 1_900_000_000)).toEqual(bundle);
    expect(bundleFromJson(bundleToJson(bundle))).toEqual(bundle);
  });

  it('encode deterministically', () => {
    expect(encodeProvisioningBundle(bundle)).toEqual(encodeProvisioningBundle({ ...bundle }));
  });

  it('refuse an expired bundle', () => {
    expect(code(() => decodeProvisioningBundle(encodeProvisioningBundle(bundle), 2_000_000_001))).toBe('ERR_BUNDLE_EXPIRED');
  });

  it('refuse a bundle with no trust anchor, or an anchor with a private key or no kid', () => {
    const map = decodeCbor(encodeProvisioningBundle(bundle)) as CborMap;
    map.set(5, []);
    expect(code(() => decodeProvisioningBundle(encodeCbor(map)))).toBe('ERR_BUNDLE_NO_TRUST_ANCHOR');
    expect(code(() => encodeProvisioningBundle({ ...bundle, trustAnchors: [as.priv] }))).toBe('ERR_BUNDLE_INVALID');
    const { kid: _k, ...noKid } = as.pub;
    expect(code(() => encodeProvisioningBundle({ ...bundle, trustAnchors: [noKid] }))).toBe('ERR_BUNDLE_INVALID');
  });

  it('refuse malformed input whole: bad CBOR, wrong types, a broken key, bad JSON', () => {
    expect(code(() => decodeProvisioningBundle(new Uint8Array([0xa1, 0x01])))).toBe('ERR_BUNDLE_INVALID');
    const map = decodeCbor(encodeProvisioningBundle(bundle)) as CborMap;
    map.set(2, 42);
    expect(code(() => decodeProvisioningBundle(encodeCbor(map)))).toBe('ERR_BUNDLE_INVALID');
    const broken = decodeCbor(encodeProvisioningBundle(bundle)) as CborMap;
    ((broken.get(5) as CborMap[])[0] as CborMap).set(-2, new Uint8Array(5));
    expect(code(() => decodeProvisioningBundle(encodeCbor(broken)))).toBe('ERR_BUNDLE_INVALID');
    expect(code(() => bundleFromJson('{nope'))).toBe('ERR_BUNDLE_INVALID');
    expect(code(() => bundleFromJson(JSON.stringify({ ...JSON.parse(bundleToJson(bundle)), version: 2 })))).toBe('ERR_BUNDLE_INVALID');
  });
});
