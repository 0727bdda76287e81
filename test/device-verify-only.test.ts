/**
 * The verify-only entry point (device/verify-only.ts) as a host imports it unbundled: asymmetric
 * PoP only, the same refusals its built bundle gives (test/quickjs-device.test.ts runs that one):
 * a sealed symmetric PoP key and a shared one named by cnf kid(3) (with its COSE_Mac0 proof) are refused,
 * typed, and nothing is stored; an Ed25519-bound token is served.
 */
import { describe, expect, it } from 'vitest';
import { portableProvider, publicCoseKey, utf8 } from '../cose/index.js';
import { DEVICE_ERR, DeviceError, buildPopRequest, decodePopRequest, loadProvisioningBundle, memoryStorage } from '../device/index.js';
import { createVerifyOnlyServer, hostProvider } from '../device/verify-only.js';
import { createFixtureIssuer, ed25519Key } from './support/device-issuer.js';

const AUD = 'tube-vo';
const now = 1_800_000_000;
const clock = () => now;
const GET = { method: 'GET', resource: '/temp', payload: new Uint8Array(0) };

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'accepted';
  } catch (error) {
    if (error instanceof DeviceError) return error.code;
    throw error;
  }
}

describe('verify-only device: asymmetric PoP only', () => {
  const issuer = createFixtureIssuer(clock);
  const provider = hostProvider({ randomBytes: (n) => portableProvider.randomBytes(n) });
  const device = createVerifyOnlyServer({
    trust: loadProvisioningBundle(issuer.bundleFor(AUD), now),
    storage: memoryStorage(),
    clock,
    provider,
    handler: () => ({ code: 205, payload: utf8('21.5') }),
  });
  const ask = (token: Uint8Array, popKey: Parameters<typeof buildPopRequest>[0]['popKey']) =>
    device.handlePopRequest(decodePopRequest(buildPopRequest({ token, popKey, audience: AUD, request: GET, includeToken: true, nonce: device.issueNonce() })));

  it('serves the holder of an Ed25519 PoP key', () => {
    const key = ed25519Key('holder');
    const token = issuer.token({ aud: AUD, exp: now + 600, cnf: { coseKey: publicCoseKey(key) }, scope: [['/temp', 1]] });
    expect(ask(token, key).code).toBe(205);
    expect(device.stats.tokens).toBe(1);
  });

  it('refuses a PoP key sealed for it (Encrypted_COSE_Key: no AES-CCM here) as invalid_token, storing nothing', () => {
    const { popKey, cnf } = issuer.symmetricCnf(AUD);
    const token = issuer.token({ aud: AUD, exp: now + 600, cnf, scope: [['/temp', 1]] });
    expect(codeOf(() => device.authzInfo({ token }))).toBe(DEVICE_ERR.INVALID_TOKEN);
    expect(codeOf(() => ask(token, popKey))).toBe(DEVICE_ERR.INVALID_TOKEN);
    expect(device.stats.tokens).toBe(1);
  });

  it('refuses a token naming a key it shares with the service (cnf kid) as unknown_key, though that key is provisioned', () => {
    const shared = issuer.sharedKeyFor(AUD);
    const token = issuer.token({ aud: AUD, exp: now + 600, cnf: { kid: shared.kid! }, scope: [['/temp', 1]] });
    expect(codeOf(() => device.authzInfo({ token }))).toBe(DEVICE_ERR.UNKNOWN_KEY);
    // With a COSE_Mac0 proof, the token carried along: the same, before any proof is looked at.
    expect(codeOf(() => ask(token, { kty: 'Symmetric', k: portableProvider.randomBytes(32), kid: shared.kid! }))).toBe(DEVICE_ERR.UNKNOWN_KEY);
    expect(device.stats.tokens).toBe(1);
  });
});
