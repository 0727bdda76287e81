/**
 * `--oscore-conf FILE` reads libcoap's OSCORE configuration format (coap-oscore-conf(5)): the
 * interop files shipped with libcoap 4.3.5 parse to their contexts, and malformed or unsupported
 * files are usage errors that never echo the master secret.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { oscoreContextInputOf, parseOscoreConf } from '../cli/index.js';
import { deriveOscoreContext, portableProvider } from '../cose/index.js';
import { findLibcoap } from './support/libcoap.js';

const libcoap = findLibcoap();
const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('hex');

describe('libcoap OSCORE conf files', () => {
  it.skipIf(!libcoap)("reads libcoap's own interop files (a_client.conf, b_server.conf)", () => {
    const dir = join(libcoap!.sourceDir, 'examples', 'interop');
    const client = parseOscoreConf(readFileSync(join(dir, 'a_client.conf'), 'utf8'), 'a_client.conf');
    const server = parseOscoreConf(readFileSync(join(dir, 'b_server.conf'), 'utf8'), 'b_server.conf');
    expect([hex(client.masterSecret), hex(client.masterSalt), hex(client.senderId), hex(client.recipientId)]).toEqual(['0102030405060708090a0b0c0d0e0f10', '9e7ca92223786340', '', '01']);
    expect([hex(server.senderId), hex(server.recipientId), server.replayWindow, server.aeadAlg, server.hkdfAlg, server.ssnFreq]).toEqual(['01', '', 30, 10, -10, 4]);
  });

  it("derives a context from libcoap's range of replay windows (1 to 63; cose/'s is at least 32 wide)", () => {
    for (const w of [1, 30, 63]) {
      const conf = parseOscoreConf(`${base}recipient_id,hex,""\nreplay_window,integer,${w}\n`, 'conf');
      expect(deriveOscoreContext(oscoreContextInputOf(conf), portableProvider).replayWindow).toBe(Math.max(w, 32));
    }
  });

  it('takes ascii values, quotes, comments and text algorithm names', () => {
    const c = parseOscoreConf('# a comment\n\nmaster_secret,ascii,"secret-secret"\nsender_id,ascii,"c"\nrecipient_id,hex,01\naead_alg,text,"AES-CCM-16-64-128"\nhkdf_alg,text,direct+HKDF-SHA-256\n', 'f');
    expect([hex(c.masterSecret), hex(c.senderId), hex(c.recipientId), c.aeadAlg, c.hkdfAlg, c.replayWindow]).toEqual([Buffer.from('secret-secret').toString('hex'), '63', '01', 10, -10, 32]);
  });

  const base = 'master_secret,hex,"00112233445566778899aabbccddeeff"\nsender_id,hex,"01"\n';
  it.each([
    ['no recipient', base, /recipient_id is required/],
    ['an unknown keyword', `${base}recipient_id,hex,""\nbreak_sender_key,bool,true\n`, /unknown keyword/],
    ['a repeated keyword', `${base}recipient_id,hex,""\nrecipient_id,hex,"02"\n`, /given twice/],
    ['odd hex', `${base}recipient_id,hex,"0"\n`, /hex digits/],
    ['an id over 7 bytes', `${base}recipient_id,hex,"0102030405060708"\n`, /longer than 7 bytes/],
    ['equal ids', `${base}recipient_id,hex,"01"\n`, /must differ/],
    ['another AEAD', `${base}recipient_id,hex,""\naead_alg,integer,24\n`, /not supported/],
    ['a replay window over libcoap\'s 63', `${base}recipient_id,hex,""\nreplay_window,integer,64\n`, /1 to 63/],
    ['no comma structure', 'master_secret\n', /keyword,encoding,value/],
    ['a huge file', 'x'.repeat(5000), /larger than/],
  ])('refuses %s without echoing the secret', (_, text, message) => {
    let error: unknown;
    try {
      parseOscoreConf(text, 'conf');
    } catch (e) {
      error = e;
    }
    expect((error as Error)?.message).toMatch(message);
    expect((error as Error).message).not.toContain('00112233');
    expect((error as { code?: string }).code).toBe('usage');
  });
});
