/**
 * OSCORE runs where devices run: the portable core's OSCORE (cose/), bundled as the device
 * bundles are (esbuild, platform neutral), executes in a bare QuickJS context (no TextEncoder,
 * crypto, Buffer or timers) and reproduces RFC 8613 C.4 byte for byte, unprotects it as the
 * server, and refuses the replay, with its sequence state kept in the host's storage.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { newQuickJSWASMModule } from 'quickjs-emscripten';
import { describe, expect, it } from 'vitest';
import { toHex } from '../cose/index.js';
import { appendixSection, vector } from './support/oscore-vectors.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

const ENTRY = `
import { OscoreError, OscoreState, decodeCoapMessage, deriveOscoreContext, encodeCoapMessage, fromHex, memoryOscoreStorage, portableProvider as p, protectRequest, toHex, unprotectRequest } from './cose/index.ts';
globalThis.oscoreC4 = (secretHex, saltHex, requestHex) => {
  const input = { masterSecret: fromHex(secretHex), masterSalt: fromHex(saltHex) };
  const client = deriveOscoreContext({ ...input, senderId: fromHex(''), recipientId: fromHex('01') }, p);
  const server = deriveOscoreContext({ ...input, senderId: fromHex('01'), recipientId: fromHex('') }, p);
  const state = OscoreState.open(client, memoryOscoreStorage({ senderSequenceLimit: 20, replayHighest: -1, replayBitmap: '0' }));
  const wire = encodeCoapMessage(protectRequest(client, state, decodeCoapMessage(fromHex(requestHex)), p).message);
  const serverState = OscoreState.open(server, memoryOscoreStorage());
  const back = encodeCoapMessage(unprotectRequest(server, serverState, decodeCoapMessage(wire), p).message);
  let replay = 'accepted';
  try { unprotectRequest(server, serverState, decodeCoapMessage(wire), p); } catch (e) { replay = e instanceof OscoreError ? e.code : String(e); }
  return [toHex(wire), toHex(back), replay].join(' ');
};
`;

describe('OSCORE on QuickJS', () => {
  it('reproduces RFC 8613 C.4 in a bare QuickJS context, unprotects it and refuses its replay', async () => {
    const bundle = await build({
      stdin: { contents: ENTRY, resolveDir: ROOT, loader: 'ts' },
      bundle: true,
      format: 'iife',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      write: false,
      logLevel: 'silent',
    });
    const c1 = appendixSection('C.1.1');
    const c4 = appendixSection('C.4');
    const qjs = await newQuickJSWASMModule();
    const vm = qjs.newContext();
    try {
      // A bare engine: none of the host globals a device lacks.
      expect(vm.dump(vm.unwrapResult(vm.evalCode('typeof TextEncoder + typeof crypto + typeof Buffer + typeof setTimeout')))).toBe('undefinedundefinedundefinedundefined');
      vm.unwrapResult(vm.evalCode(bundle.outputFiles[0]!.text)).dispose();
      const call = `oscoreC4(${JSON.stringify(toHex(vector(c1, 'Master Secret')))}, ${JSON.stringify(toHex(vector(c1, 'Master Salt')))}, ${JSON.stringify(toHex(vector(c4, 'Unprotected CoAP request')))})`;
      const handle = vm.unwrapResult(vm.evalCode(call));
      const [wire, back, replay] = String(vm.dump(handle)).split(' ');
      handle.dispose();
      expect(wire).toBe(toHex(vector(c4, 'Protected CoAP request (OSCORE message)')));
      expect(back).toBe(toHex(vector(c4, 'Unprotected CoAP request')));
      expect(replay).toBe('ERR_OSCORE_REPLAY');
    } finally {
      vm.dispose();
    }
  });
});
