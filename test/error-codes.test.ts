/**
 * One error-code registry (cose/error-codes.ts): every code the device, the broker and the service
 * answer with is in it, and each component's answer (CoAP code in a device's refusal body, CONNACK
 * return code, HTTP status and OAuth error) is the registry's, not a mapping of its own.
 */
import { describe, expect, it } from 'vitest';
import { allErrorCodes, isErrorCode, wireError, type ErrorCode } from '../cose/index.js';
import { DEVICE_ERR, DeviceError, refusalBody } from '../device/index.js';
import { BROKER_ERR, BrokerError } from '../broker/index.js';
import { AuthzError } from '../authz/index.js';

describe('one registry of error codes', () => {
  for (const code of Object.values(DEVICE_ERR)) {
    it(`device ${code}: a refusal body carries the registry's CoAP code`, () => {
      expect(isErrorCode(code)).toBe(true);
      expect(refusalBody(new DeviceError(code, 'x'))).toMatchObject({ code: wireError(code).coap, error: code });
    });
  }
  for (const code of Object.values(BROKER_ERR)) {
    it(`broker ${code}: its CONNACK return code is the registry's`, () => {
      expect(isErrorCode(code)).toBe(true);
      expect(new BrokerError(code, 'x').returnCode).toBe(wireError(code).connack);
    });
  }
  it('the service answers with the registry status and OAuth error', () => {
    for (const code of ['invalid_request', 'invalid_client', 'invalid_grant', 'slow_down', 'server_error'] as ErrorCode[]) {
      const e = new AuthzError(code, 'x');
      expect([e.code, e.status, e.oauthError]).toEqual([code, wireError(code).http, wireError(code).oauth]);
    }
    expect(new AuthzError('invalid_request', 'use POST', { status: 405 }).status).toBe(405);
  });
  it('the same failure has the same code at device and broker, and CONNACKs stay in MQTT 3.1.1 range', () => {
    for (const code of ['invalid_token', 'expired', 'wrong_audience', 'revoked', 'bad_proof', 'replay', 'unknown_key', 'insufficient_scope', 'busy'] as const) {
      expect(Object.values(DEVICE_ERR)).toContain(code);
      expect(Object.values(BROKER_ERR)).toContain(code);
    }
    for (const [code, w] of allErrorCodes()) {
      expect([3, 4, 5], code).toContain(w.connack);
      expect(w.http >= 400 && w.http < 600, code).toBe(true);
    }
    expect(isErrorCode('ERR_CWT_EXPIRED')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
  });
});
