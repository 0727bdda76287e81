/**
 * The Node logger's second guard (device/adapters/node-logger.ts): fields named like secrets
 * (token, proof, password, secret, authorization, key, d, k, cookie...) are censored at the top
 * level and one below, whatever a caller passes by mistake; the caller's object is left as it was,
 * and the other fields, the message and the level come through.
 */
import { describe, expect, it } from 'vitest';
import { createNodeLogger } from '../device/adapters/index.js';

function capture(): { lines: Array<Record<string, unknown>>; logger: ReturnType<typeof createNodeLogger> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createNodeLogger({ name: 'test', level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  return { lines, logger };
}

describe('log redaction', () => {
  it('censors secret-named fields at the top level and one below, and leaves the caller\'s object alone', () => {
    const { lines, logger } = capture();
    const fields = {
      event: 'oops',
      token: 'eyJ-top-secret',
      client: { id: 'meter', secret: 's3cret', d: 'private-scalar', name: 'Meter' },
      headers: { authorization: 'Basic bWV0ZXI6czNjcmV0', cookie: 'kb_session=abc' },
      key: { kty: 'OKP', d: 'x' },
      count: 3,
      bytes: new Uint8Array([1, 2, 3]),
      list: ['token', 'password'],
    };
    const before = JSON.stringify(fields);
    // Nested objects are outside the Logger type: passed by mistake, which is what the guard is for.
    logger.warn(fields as never, 'authz: something');
    expect(JSON.stringify(fields)).toBe(before);
    const line = lines[0]!;
    expect(line).toMatchObject({ level: 40, msg: 'authz: something', name: 'test', event: 'oops', count: 3, list: ['token', 'password'] });
    expect(line.token).toBe('[redacted]');
    expect(line.key).toBe('[redacted]');
    expect(line.client).toEqual({ id: 'meter', secret: '[redacted]', d: '[redacted]', name: 'Meter' });
    expect(line.headers).toEqual({ authorization: '[redacted]', cookie: '[redacted]' });
    for (const secret of ['eyJ-top-secret', 's3cret', 'private-scalar', 'bWV0ZXI6czNjcmV0', 'kb_session']) expect(JSON.stringify(line)).not.toContain(secret);
  });

  it('passes a line without such fields as it is', () => {
    const { lines, logger } = capture();
    logger.info({ event: 'token_issued', clientId: 'meter', audience: 'grid', tokenHash: 'ab12cd34' }, 'authz: token issued');
    expect(lines[0]).toMatchObject({ event: 'token_issued', clientId: 'meter', audience: 'grid', tokenHash: 'ab12cd34', msg: 'authz: token issued' });
  });
});
