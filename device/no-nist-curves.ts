/**
 * Stands in for @noble/curves/nist.js in the verify-only bundle (firmware-sim/device-bundle.ts
 * aliases that module to this one), so that the bundle carries Ed25519 only: noble's Weierstrass
 * code is ~16 KB minified and ~60 KB of QuickJS heap. The portable provider then finds no P-256
 * curve, and a P-256 token, proof or key is refused with ERR_COSE_ALG_UNSUPPORTED, never misread
 * (test/quickjs-device.test.ts). Nothing imports this file.
 */
export const p256 = undefined;
export const p384 = undefined;
export const p521 = undefined;
