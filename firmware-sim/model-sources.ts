/**
 * Where the simulator's numbers come from. Every figure of the hardware, radio, flash, battery and
 * crypto models is a `Figure`: its value, the source it was taken from (a document, a measured
 * library and its version) and where in it; a figure that no document gives is marked an estimate
 * with the reason. test/sim-model-sources.test.ts walks every table and fails on a number without
 * one, and the fleet report lists the sources its run used.
 */
export const SOURCES = {
  PS52840: 'Nordic Semiconductor, nRF52840 Product Specification v1.7 (2021)',
  P256M4: 'E. Lenngren, P256-Cortex-M4 (github.com/Emill/P256-Cortex-M4, commit ecd3ec2), README "Performance": nRF52840, ICACHE on, GCC -O2',
  FA17: 'H. Fujii, D. F. Aranha, "Curve25519 for the Cortex-M4 and beyond", LATINCRYPT 2017',
  THINGSAT: 'D. Donsez et al., ECC benchmarks for MCU (github.com/thingsat/ecc_mcu_benchmarks, commit 25f984d), README "Results": RIOT packages micro-ecc and c25519',
  LIBSODIUM_ESP32: 'libsodium as shipped in ESP-IDF (components/libsodium), Ed25519 verify measured on an ESP32 at 240 MHz: ~54 ms (the figure issue 16 checked)',
  HS13: 'M. Hutter, P. Schwabe, "NaCl on 8-Bit AVR Microcontrollers", AFRICACRYPT 2013, cycle-count results: Ed25519 crypto_sign ~23 M cycles, crypto_sign_open ~32.6 M cycles (the figures issue 16 checked)',
  DHH15: 'M. Düll, B. Haase, G. Hinterwälder et al., "High-speed Curve25519 on 8-bit, 16-bit and 32-bit microcontrollers", Designs, Codes and Cryptography 2015',
  SS16: 'P. Schwabe, K. Stoffelen, "All the AES you need on Cortex-M3 and M4", SAC 2016',
  SLAA397: 'Texas Instruments SLAA397, "AES128 - A C Implementation for Encryption and Decryption" (MSP430)',
  AVRCRYPTO: 'AVR-Crypto-Lib (das-labor.org), AES-128 performance table for ATmega',
  SP80090A: 'NIST SP 800-90A Rev. 1, §10.2.1 CTR_DRBG (AES-128): one block per 16 output bytes, Update = 2 blocks per request',
  FIPS180: 'NIST FIPS 180-4, §5.1 padding (SHA-256: 64-byte blocks, 9 bytes of padding; SHA-512: 128-byte blocks, 17 bytes)',
  RFC8032: 'RFC 8032 §5.1.6/§5.1.7: Ed25519 sign hashes SHA-512(prefix || M) and SHA-512(R || A || M); verify hashes SHA-512(R || A || M)',
  ESP32: 'Espressif, ESP32 Series Datasheet: CPU and memory, Electrical Characteristics (recommended operating conditions, RF current consumption), power-mode current table (deep-sleep, modem-sleep)',
  ESP32TRM: 'Espressif, ESP32 Technical Reference Manual, Low-Power Management chapter: RTC fast + slow memory (8 KiB + 8 KiB) kept in deep sleep',
  W25Q: 'Winbond W25Q32JV datasheet: AC Electrical Characteristics (tPP, tSE) and Features',
  CC2538: 'Texas Instruments CC2538 datasheet SWRS096: Features, Electrical Characteristics (current consumption, flash memory)',
  F5438: 'Texas Instruments MSP430F543xA/F541xA datasheet SLAS655, Electrical Characteristics (active, LPM3, flash, PMM)',
  CC2520: 'Texas Instruments CC2520 datasheet SWRS068: Electrical Characteristics (current consumption)',
  AVR: 'Microchip ATmega328P datasheet DS40002061B: Features, Electrical Characteristics (speed grades), Boot Loader Support (programming time for flash when using SPM), Memory Programming (page size)',
  NRF24: 'Nordic Semiconductor, nRF24L01+ Product Specification v1.0: electrical specifications (power consumption), timing information, Enhanced ShockBurst packet format, register map',
  IEEE802154: 'IEEE Std 802.15.4-2015: O-QPSK PHY (250 kbit/s), PHY constants (aMaxPhyPacketSize, aTurnaroundTime), MAC PIB attributes (macMinBe, macMaxFrameRetries), Imm-Ack frame',
  RFC4944: 'RFC 4944 §5.3 (6LoWPAN fragment headers) and RFC 6282 (IPHC)',
  IEEE80211: 'IEEE Std 802.11-2016: Clause 17 OFDM PHY timing (slot 9 µs, SIFS 16 µs, preamble+SIGNAL 20 µs), Annex C MIB defaults',
  BT53: 'Bluetooth Core Specification v5.3, Vol 6 Part B §2.1 (LE 1M packet format)',
  CR2032: 'Energizer CR2032 product datasheet (Form No. CR2032GL): 235 mAh to 2.0 V at 15 kΩ; Panasonic CR2032 datasheet: 225 mAh, standard discharge current 0.2 mA, max continuous 3 mA',
  E91: 'Energizer E91 (AA alkaline) product datasheet: capacity vs. continuous drain to 0.8 V, discharge curves',
  SWRA349: 'Texas Instruments SWRA349, "Coin Cells and Peak Current Draw": pulse loads above a coin cell\'s rated drain cut its usable capacity',
  TPS61099: 'Texas Instruments TPS61099x datasheet SLVSD88: synchronous boost, VIN 0.7-5.5 V, quiescent current ~1 µA, efficiency curves for VOUT 3.3 V',
  FC135: 'Epson FC-135 32.768 kHz crystal datasheet: frequency tolerance ±20 ppm at 25 °C, parabolic temperature coefficient -0.04 ppm/°C² max (typ. -0.034), turnover 25 °C',
  ISSUE16: 'keybound issue 16 (a source check of this model): figures it quotes from the parts\' documents',
  EST: 'keybound estimate: no published figure found; the reason is given with the figure',
} as const;

export type SourceId = keyof typeof SOURCES;

export interface Figure {
  value: number;
  source: SourceId;
  /** Table, section or figure in the source, or the derivation. */
  where: string;
  /** Set when the figure is an estimate: why, and what it was derived from. */
  estimate?: string;
}

export const fig = (value: number, source: SourceId, where: string, estimate?: string): Figure => (estimate === undefined ? { value, source, where } : { value, source, where, estimate });

/** An estimate: a value no document gives directly, with why and from what. */
export const est = (value: number, why: string, from: SourceId = 'EST'): Figure => ({ value, source: from, where: 'derived', estimate: why });

/** The numbers of a table of figures. */
export function valuesOf<K extends string>(figures: Readonly<Record<K, Figure>>): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k of Object.keys(figures) as K[]) out[k] = figures[k].value;
  return out;
}

/** The sources a set of figures cites, sorted by id, with their documents. */
export function sourcesOf(figures: Iterable<Figure>): Array<{ id: SourceId; document: string }> {
  const ids = new Set<SourceId>();
  for (const f of figures) ids.add(f.source);
  return [...ids].sort().map((id) => ({ id, document: SOURCES[id] }));
}
