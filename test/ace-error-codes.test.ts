import { describe, expect, it } from 'vitest';
import { ACE_ERROR_CODE, aceErrorName, aceErrorValue, encodeCbor, type CborValue } from '../cose/index.js';
import { DEVICE_ERR, DeviceError, decodeTokenResponse } from '../device/index.js';

// RFC 9200 §8.4: in application/ace+cbor, error(30) is an integer where one is registered.
describe('ACE error codes in CBOR (RFC 9200 §8.4)', () => {
  it('map the registered names to their integers and back; other names stay text', () => {
    expect(ACE_ERROR_CODE).toEqual({
      invalid_request: 1,
      invalid_client: 2,
      invalid_grant: 3,
      unauthorized_client: 4,
      unsupported_grant_type: 5,
      invalid_scope: 6,
      unsupported_pop_key: 7,
      incompatible_ace_profiles: 8,
    });
    for (const [name, code] of Object.entries(ACE_ERROR_CODE)) {
      expect(aceErrorValue(name)).toBe(code);
      expect(aceErrorName(code)).toBe(name);
    }
    expect(aceErrorValue('invalid_target')).toBe('invalid_target');
    expect(aceErrorName('authorization_pending')).toBe('authorization_pending');
    expect(aceErrorName(99)).toBe('error 99');
    expect(aceErrorName(new Uint8Array(1))).toBeUndefined();
  });

  it("the device's client role names an integer error from the service", () => {
    const body = encodeCbor(new Map<CborValue, CborValue>([[30, 2], [31, 'client authentication failed']]));
    let err: unknown;
    try {
      decodeTokenResponse(body);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DeviceError);
    expect((err as DeviceError).code).toBe(DEVICE_ERR.AS_ERROR);
    expect((err as DeviceError).message).toContain('refused: invalid_client (client authentication failed)');
  });
});
