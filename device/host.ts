/**
 * Everything the device core needs from the engine and firmware around it, named in one place.
 * `cose/` and `device/` use ECMAScript alone (no TextEncoder, `crypto`, Buffer, timers or other
 * host globals, at import or at run time: test/quickjs-device.test.ts runs them on QuickJS), so a
 * port to a new engine (QuickJS, Moddable XS, Espruino-class ES2020 engines, a browser, Node)
 * supplies exactly these three things and nothing else:
 *
 * - `randomBytes`: a cryptographically secure source (the part's TRNG, or a DRBG seeded from
 *   it). It makes the device's nonces (RFC 9200 §5.3.1 cnonce, PoP challenges) and protected-
 *   session ids and N2 (RFC 9203 §4.1); it is checked at the door (cose/host-randomness.ts).
 * - `clock`: seconds since the epoch, or, on a part without a real-time clock, a monotonic count
 *   since first boot that never goes back across a reboot (the iat replay guard relies on it;
 *   clock-less tokens use `exi`, RFC 9200 §5.10.3).
 * - `storage`: a synchronous key/value store whose `put` is atomic (device/storage.ts); what must
 *   survive a reboot (sequence blocks, replay windows, exi floor, revocation state) lives there.
 *
 * Text needs no codec from the host: UTF-8 is done in ECMAScript (cose/utf8.ts). Nothing else is
 * read from the global object. Without a host source the portable provider uses the engine's
 * `crypto.getRandomValues` where there is one (Node, browsers) and otherwise refuses with
 * ERR_COSE_BAD_RANDOMNESS; key pairs are seeded from the same source, never by noble on its own.
 */
import { portableProvider, setEd25519BaseWindow, withRandomSource, type Clock, type CryptoProvider, type RandomSource } from '../cose/index.js';
import type { DeviceStorage } from './storage.js';

export interface DeviceHost {
  randomBytes: RandomSource;
  clock: Clock;
  storage: DeviceStorage;
  /**
   * Optional, for parts short of RAM: the Ed25519 base-point table window (cose's
   * setEd25519BaseWindow). 1 saves ~250 KB of heap on QuickJS for slower verification. The
   * verify-only bundle's Ed25519 (compact-ed25519.ts) keeps no table whatever this says.
   */
  ed25519BaseWindow?: number;
}

/** The portable crypto provider with its randomness from the host (the rest is pure ECMAScript). */
export function hostProvider(host: Pick<DeviceHost, 'randomBytes' | 'ed25519BaseWindow'>, base: CryptoProvider = portableProvider): CryptoProvider {
  if (host.ed25519BaseWindow !== undefined) setEd25519BaseWindow(host.ed25519BaseWindow);
  return withRandomSource(base, host.randomBytes);
}
