/**
 * The verify-only device bundle is codes-only (firmware-sim/error-message-strip.ts, issue 13's
 * size goal): error message text is taken out of the bundle, and every error's message is then
 * its code. What must hold: only message text goes (never a code, a label, or a string that does
 * anything), the output is still the same program, and a refusal from the built bundle carries the
 * same code as from the full text build, with the code as its message.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'acorn';
import { buildDeviceBundle, stripErrorMessages } from '../firmware-sim/index.js';
import { CoseError, CwtClaimError, ERR } from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from '../device/index.js';

describe('stripErrorMessages', () => {
  it('empties the message text thrown or given to an error constructor, and nothing else', async () => {
    const source = [
      "function bad(m) { return new CoseError('ERR_X', m); }",
      "function a(x) { if (x === 1) throw new CoseError(ERR.COSE_MALFORMED, 'COSE: not a map'); if (x === 2) throw bad(`label ${x} is not text`); }",
      "function b() { return new DeviceError('bad_request', 'a request that does not parse'); }",
      // Kept: no white space (a code, a label), not thrown, not an error's constructor, an object's text.
      "function c() { throw new CoseError('ERR_Y', 'exp(4)'); }",
      "const greeting = 'hello there'; log('device: token accepted');",
      "function d() { throw refuse('invalid_token', { hint: 'ask the AS again' }); }",
      "function e(s) { return s.split(', ').join(' and '); }",
      // The engine's own errors (a caller's misuse) have no code to stand in: their text stays.
      "function h(n) { if (n < 0) throw new RangeError('n must be >= 0'); return new TypeError('expected bytes here'); }",
      // A thrown branch (esbuild's form of `if (c) throw f(...); throw e;`), and a concatenation.
      "function g(e) { throw e instanceof CoseError ? refuse(e.message + ' (' + e.code + ')', e) : e; }",
      // A choice on a name between two messages goes whole; one on a call (which may do something) stays.
      "function k(full) { throw new DeviceError('busy', full ? 'store is full' : 'no room here'); }",
      "function m() { throw new DeviceError('busy', isFull() ? 'store is full' : 'no room left'); }",
    ].join('\n');
    const { code, stripped } = await stripErrorMessages(source);
    expect(stripped).toBe(5);
    expect(code).toContain('new DeviceError(\'busy\', "")');
    expect(code).toContain("isFull() ? 'store is full' : 'no room left'");
    expect(code).not.toMatch(/not a map|is not text|does not parse/);
    for (const kept of ["'n must be >= 0'", "'expected bytes here'", "'exp(4)'", "'hello there'", "'device: token accepted'", "'ask the AS again'", "', '", "' and '", "'ERR_X'", "'bad_request'"]) expect(code).toContain(kept);
    expect(code).toContain('throw new CoseError(ERR.COSE_MALFORMED, "")');
    expect(code).toContain('throw bad("")');
    expect(code).toContain('refuse("", e) : e');
    expect(() => parse(code, { ecmaVersion: 'latest', sourceType: 'module' })).not.toThrow();
  });

  it('a literal inside one already emptied goes with it; input with nothing to take is returned as it was', async () => {
    const nested = 'function f(x) { throw new CoseError(`outer ${x ? new ScopeError("inner text") : "other text"} end`); }';
    const out = await stripErrorMessages(nested);
    expect(out).toEqual({ code: 'function f(x) { throw new CoseError(""); }', stripped: 1 });
    const plain = 'export const x = 1;\nconsole.log("a b");\n';
    expect(await stripErrorMessages(plain)).toEqual({ code: plain, stripped: 0 });
  });

  it('refuses input that is not JavaScript (a build step fails loudly, never writes a broken bundle)', async () => {
    await expect(stripErrorMessages('function (')).rejects.toThrow();
  });
});

describe('errors without message text', () => {
  it('take their code as their message', () => {
    expect(new CoseError(ERR.COSE_MALFORMED, '').message).toBe(ERR.COSE_MALFORMED);
    expect(new DeviceError(DEVICE_ERR.BAD_PROOF, '').message).toBe(DEVICE_ERR.BAD_PROOF);
    expect(new CwtClaimError(ERR.CWT_CLAIM_INVALID, 'exp(4)', '').message).toBe('exp(4)');
    expect(new CoseError(ERR.COSE_MALFORMED, 'COSE: not a map').message).toBe('COSE: not a map');
  });
});

describe('the codes-only verify-only bundle', () => {
  const load = async (messages: boolean): Promise<{ bundle: Awaited<ReturnType<typeof buildDeviceBundle>>; module: { loadProvisioningBundle: (b: Uint8Array, now: number) => unknown } }> => {
    const bundle = await buildDeviceBundle('verify-only', { messages });
    return { bundle, module: await import(`data:text/javascript;base64,${Buffer.from(bundle.code).toString('base64')}`) };
  };

  it('has none of the text, and refuses with the same codes as the build that keeps it', async () => {
    const codesOnly = await load(false);
    const withText = await load(true);
    expect(codesOnly.bundle.messages).toBe(false);
    expect(withText.bundle.messages).toBe(true);
    // Text the device's errors carry in the source (device/trust-store.ts, cose/cbor-decode.ts).
    for (const text of ['provisioning bundle', 'duplicate map key']) {
      expect(withText.bundle.code).toContain(text);
      expect(codesOnly.bundle.code).not.toContain(text);
    }
    expect(codesOnly.bundle.gzipBytes).toBeLessThan(withText.bundle.gzipBytes - 3000);
    // A provisioning bundle that is not CBOR, and one that is CBOR with a duplicate key.
    for (const junk of [new Uint8Array([0xff, 0x00]), new Uint8Array([0xa2, 0x01, 0x01, 0x01, 0x02])]) {
      const refusal = (m: { loadProvisioningBundle: (b: Uint8Array, now: number) => unknown }) => {
        try {
          m.loadProvisioningBundle(junk, 1_800_000_000);
        } catch (e) {
          return e as { code: string; message: string; name: string };
        }
        throw new Error('accepted junk');
      };
      const a = refusal(codesOnly.module);
      const b = refusal(withText.module);
      expect(a.code).toBe(b.code);
      expect(a.name).toBe(b.name);
      expect(b.message).not.toBe(b.code);
      expect(a.message).toBe(a.code);
    }
  });
});
