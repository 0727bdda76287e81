/**
 * Stands in for @noble/curves/nist.js in the verify-only bundle (firmware-sim/device-bundle.ts
 * aliases that module to this one), so that the bundle carries Ed25519 only: noble's Weierstrass
 * code is ~16 KB minified and ~60 KB of QuickJS heap. The portable provider then finds no P-256
 * curve, and a P-256 token, proof or key is refused with ERR_COSE_ALG_UNSUPPORTED, never misread
 * (test/quickjs-device.test.ts). It stands in for cose/ecdsa-low-s.ts too, whose curve orders
 * serve one purpose: naming an ECDSA-signed token by its low-S form (cose/token-hash.ts), so that
 * its high-S twin cannot pass for another token. No ECDSA token verifies here, so which form names
 * one does not matter: it is refused whichever arrives. Nothing imports this file.
 */
export const p256 = undefined;
export const p384 = undefined;
export const p521 = undefined;

/** No ECDSA here, so no group order either (cose/ecdsa-low-s.ts). */
export const ECDSA_ORDERS: ReadonlyMap<number, bigint> = new Map();
/** The signature as it came: see above (the real one also leaves any length it has no order for unchanged). */
export const lowS = (signature: Uint8Array): Uint8Array => signature;
