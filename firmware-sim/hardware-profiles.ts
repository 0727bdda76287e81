/**
 * Simulated hardware, after RFC 7228's classes of constrained devices (Table 1: class 0 well under
 * 10 KiB RAM / 100 KiB flash, class 1 ~10 KiB / ~100 KiB, class 2 ~50 KiB / ~250 KiB) and a few
 * named parts. Every default number says where it comes from. Figures marked "approx." are
 * rounded from the cited source or scaled from a neighbouring part, and are the first thing to
 * replace with a measurement on real hardware. Cycle counts are for software crypto (no
 * accelerator), which is the conservative case and what the keybound device runtime does.
 */
import type { DeviceProfile } from '../device/index.js';

export type RadioName = 'ieee802154' | 'ble' | 'wifi';

export interface CryptoCycles {
  /** Ed25519 signature verification (RFC 8032 §5.1.7), cycles. */
  ed25519Verify: number;
  ed25519Sign: number;
  /** ECDSA P-256 verification over a given hash, cycles (the SHA-256 is counted per block). */
  es256Verify: number;
  es256Sign: number;
  /** One SHA-256 compression (64-byte block): HMAC, digests and HKDF are counted in these. */
  sha256Block: number;
  /** One AES-128 block encryption: AES-CCM costs two per 16-byte block (CBC-MAC + CTR). */
  aesBlock: number;
  /** One random byte from the TRNG. */
  randomByte: number;
  /** Fixed CPU work per message handled (CBOR decode, dispatch), cycles. */
  messageOverhead: number;
}

export interface HardwareProfile {
  name: string;
  part: string;
  rfc7228Class: 0 | 1 | 2;
  cpuHz: number;
  cycles: CryptoCycles;
  ramBytes: number;
  flashBytes: number;
  /** Flash endurance in erase cycles per page; writes are counted against it. */
  flashEndurance: number;
  /** Time to program one 32-bit word, seconds; page erase time amortized per byte written. */
  flashWordWriteS: number;
  flashEraseS: number;
  flashPageBytes: number;
  /** A real-time clock (time of day) or only a counter since boot (clock-less: exi tokens). */
  rtc: boolean;
  /** Crystal tolerance, parts per million (drift of the device's notion of time). */
  driftPpm: number;
  batteryMah: number;
  volts: number;
  /** Currents in amperes. */
  sleepA: number;
  cpuA: number;
  txA: number;
  rxA: number;
  radio: RadioName;
  /** The device runtime's budgets (device/ refuses rather than grows past them). */
  budgets: Partial<DeviceProfile>;
}

/**
 * Sources:
 * [PS52840] Nordic nRF52840 Product Specification v1.7: 64 MHz Cortex-M4F; CPU running CoreMark
 *   from flash, DC/DC, 3 V: 3.3 mA (52 µA/MHz); radio TX 0 dBm (DC/DC) 4.8 mA, RX 1 Mbit/s 4.6 mA;
 *   System ON, full RAM retention, RTC running: ~1.5 µA; NVMC word write 41 µs, page (4 KiB) erase
 *   85 ms, endurance 10 000 cycles; 256 KiB RAM, 1 MiB flash.
 * [FA17] H. Fujii, D. F. Aranha, "Curve25519 for the Cortex-M4 and beyond", LATINCRYPT 2017:
 *   X25519 ~907 k cycles on Cortex-M4; Ed25519 verification on the order of 1.3-1.5 M cycles
 *   (approx.: we take 1.4 M).
 * [DHH15] M. Düll, B. Haase, G. Hinterwälder et al., "High-speed Curve25519 on 8-bit, 16-bit and
 *   32-bit microcontrollers", DCC 2015: X25519 13.9 M cycles on AVR ATmega, 5.3 M on MSP430X with
 *   32-bit multiplier, 3.59 M on Cortex-M0. Ed25519 verification (a double-base scalar
 *   multiplication plus decompression) is taken as ~2x a variable-base X25519 (approx.).
 * [uECC] micro-ecc benchmarks (github.com/kmackay/micro-ecc README) and [FA17]'s comparison:
 *   ECDSA P-256 verification ~3x an Ed25519 verification on the same core (approx.).
 * [SS16] P. Schwabe, K. Stoffelen, "All the AES you need on Cortex-M3 and M4", SAC 2016:
 *   AES-128 table-based ~34 cycles/byte on M4 (~550 cycles/block), ~40 cycles/byte on M3.
 * [SHA] SHA-256 in C on Cortex-M3/M4 ~40-50 cycles/byte (~3 000 cycles/block, approx.); on
 *   MSP430 ~ 5x that; on AVR ~ 8x (approx., from the Bernstein-Lange SUPERCOP/XBX embedded runs).
 * [TI397] TI SLAA397 "AES128 - A C Implementation for Encryption and Decryption" on MSP430:
 *   ~6 600 cycles per block encryption (approx.).
 * [ESP32] Espressif ESP32 Datasheet v4: Xtensa LX6 240 MHz; modem-sleep 240 MHz 30-68 mA (we
 *   take 50 mA); Wi-Fi TX 802.11n ~180 mA, RX ~100 mA; deep sleep with RTC timer ~10 µA; 520 KiB
 *   SRAM. Curve cycles: ~1.5x Cortex-M4 (no UMAAL, approx.).
 * [CC2538] TI CC2538 datasheet (SWRS096): Cortex-M3 32 MHz, 32 KiB RAM, 512 KiB flash; active
 *   MCU 32 MHz 7 mA; RX 20 mA, TX 0 dBm 24 mA; PM2 (sleep timer on) 1.3 µA; flash write 20 µs
 *   per word, page (2 KiB) erase 20 ms, 20 000 cycles endurance.
 * [F5438] TI MSP430F5438A datasheet (SLAS655): 25 MHz max, ~230 µA/MHz active; LPM3 ~2 µA; with a
 *   CC2520 radio (SWRS068): RX 18.5 mA, TX 0 dBm 25.8 mA. Class 1 RAM (16 KiB), 256 KiB flash.
 * [AVR] Microchip ATmega328P datasheet: 16 MHz, 2 KiB SRAM, 32 KiB flash, ~9 mA active at
 *   16 MHz 5 V, power-save ~1 µA; radio as an nRF24-class add-on, approx.
 * Batteries: CR2032 ~225 mAh at 3 V; 2xAA ~2 500 mAh at 3 V (manufacturers' nominal).
 * Crystals: 32.768 kHz watch crystals ±20 ppm; internal RC oscillators ±2% (20 000 ppm) —
 *   clock-less parts drift like the latter.
 */
const M4_CYCLES: CryptoCycles = {
  ed25519Verify: 1_400_000, // [FA17] approx.
  ed25519Sign: 550_000, // [FA17] approx.: fixed-base scalar multiplication + 2 SHA-512
  es256Verify: 4_200_000, // [uECC] approx., ~3x Ed25519 verify
  es256Sign: 1_700_000, // [uECC] approx.
  sha256Block: 3_000, // [SHA] approx.
  aesBlock: 550, // [SS16]
  randomByte: 32, // nRF52840 RNG peripheral, bias correction off: ~0.5 µs per byte
  messageOverhead: 20_000, // CBOR decode and dispatch of a ~200-byte message, approx.
};

export const HARDWARE_PROFILES: Readonly<Record<string, HardwareProfile>> = Object.freeze({
  /** Class 2: a Cortex-M4F radio SoC with room to spare. */
  'nrf52840': {
    name: 'nrf52840',
    part: 'Nordic nRF52840 (Cortex-M4F 64 MHz, 802.15.4)',
    rfc7228Class: 2,
    cpuHz: 64_000_000,
    cycles: M4_CYCLES,
    ramBytes: 256 * 1024,
    flashBytes: 1024 * 1024,
    flashEndurance: 10_000,
    flashWordWriteS: 41e-6,
    flashEraseS: 85e-3,
    flashPageBytes: 4096,
    rtc: true,
    driftPpm: 20,
    batteryMah: 225,
    volts: 3,
    sleepA: 1.5e-6,
    cpuA: 3.3e-3,
    txA: 4.8e-3,
    rxA: 4.6e-3,
    radio: 'ieee802154',
    budgets: { tokenBudgetBytes: 4096, maxSessions: 8 },
  },
  /** Class 2 (and more): a Wi-Fi part, mains or big battery. */
  'esp32': {
    name: 'esp32',
    part: 'Espressif ESP32 (Xtensa LX6 240 MHz, Wi-Fi)',
    rfc7228Class: 2,
    cpuHz: 240_000_000,
    cycles: {
      ed25519Verify: 2_100_000, // [ESP32] approx., 1.5x [FA17]
      ed25519Sign: 825_000,
      es256Verify: 6_300_000,
      es256Sign: 2_550_000,
      sha256Block: 4_000,
      aesBlock: 800,
      randomByte: 40,
      messageOverhead: 30_000,
    },
    ramBytes: 520 * 1024,
    flashBytes: 4 * 1024 * 1024,
    flashEndurance: 100_000,
    flashWordWriteS: 20e-6,
    flashEraseS: 45e-3,
    flashPageBytes: 4096,
    rtc: true,
    driftPpm: 20,
    batteryMah: 2500,
    volts: 3.3,
    sleepA: 10e-6,
    cpuA: 50e-3,
    txA: 180e-3,
    rxA: 100e-3,
    radio: 'wifi',
    budgets: { tokenBudgetBytes: 8192, maxSessions: 16 },
  },
  /** Class 1: a Cortex-M3 802.15.4 SoC with 32 KiB RAM, no calendar RTC kept across power loss. */
  'cc2538': {
    name: 'cc2538',
    part: 'TI CC2538 (Cortex-M3 32 MHz, 802.15.4)',
    rfc7228Class: 1,
    cpuHz: 32_000_000,
    cycles: {
      ed25519Verify: 2_200_000, // [FA17] scaled for M3 (no UMAAL, ~1.6x), approx.
      ed25519Sign: 880_000,
      es256Verify: 6_700_000,
      es256Sign: 2_700_000,
      sha256Block: 3_300,
      aesBlock: 650, // [SS16] M3 figure
      randomByte: 64,
      messageOverhead: 25_000,
    },
    ramBytes: 32 * 1024,
    flashBytes: 512 * 1024,
    flashEndurance: 20_000,
    flashWordWriteS: 20e-6,
    flashEraseS: 20e-3,
    flashPageBytes: 2048,
    rtc: false,
    driftPpm: 20_000,
    batteryMah: 2500,
    volts: 3,
    sleepA: 1.3e-6,
    cpuA: 7e-3,
    txA: 24e-3,
    rxA: 20e-3,
    radio: 'ieee802154',
    budgets: { tokenBudgetBytes: 1024, maxSessions: 2, replayCacheEntries: 8, maxNonces: 4 },
  },
  /** Class 1: a 16-bit MSP430 with an 802.15.4 transceiver (the classic sensor mote). */
  'msp430': {
    name: 'msp430',
    part: 'TI MSP430F5438A 16 MHz + CC2520 (802.15.4)',
    rfc7228Class: 1,
    cpuHz: 16_000_000,
    cycles: {
      ed25519Verify: 11_000_000, // [DHH15] ~2x 5.3 M X25519 on MSP430X, approx.
      ed25519Sign: 4_500_000,
      es256Verify: 33_000_000, // [uECC] ~3x, approx.
      es256Sign: 13_000_000,
      sha256Block: 15_000, // [SHA] approx.
      aesBlock: 6_600, // [TI397] approx.
      randomByte: 200,
      messageOverhead: 60_000,
    },
    ramBytes: 16 * 1024,
    flashBytes: 256 * 1024,
    flashEndurance: 10_000,
    flashWordWriteS: 64e-6,
    flashEraseS: 23e-3,
    flashPageBytes: 512,
    rtc: false,
    driftPpm: 20_000,
    batteryMah: 2500,
    volts: 3,
    sleepA: 2e-6,
    cpuA: 3.7e-3,
    txA: 25.8e-3,
    rxA: 18.5e-3,
    radio: 'ieee802154',
    budgets: { tokenBudgetBytes: 640, maxSessions: 1, replayCacheEntries: 4, maxNonces: 2 },
  },
  /** Class 0: 2 KiB of RAM. Too small to hold a token: the runtime must refuse, not overflow. */
  'class0-avr': {
    name: 'class0-avr',
    part: 'Microchip ATmega328P 16 MHz (class 0) + nRF24-class radio',
    rfc7228Class: 0,
    cpuHz: 16_000_000,
    cycles: {
      ed25519Verify: 28_000_000, // [DHH15] ~2x 13.9 M X25519 on AVR, approx.
      ed25519Sign: 11_000_000,
      es256Verify: 84_000_000,
      es256Sign: 33_000_000,
      sha256Block: 24_000,
      aesBlock: 3_000, // AVR-Crypto-Lib AES-128 ~2 700-3 300 cycles/block, approx.
      randomByte: 400,
      messageOverhead: 80_000,
    },
    ramBytes: 2 * 1024,
    flashBytes: 32 * 1024,
    flashEndurance: 10_000,
    flashWordWriteS: 1.1e-3, // EEPROM byte write 3.3 ms per byte pair group, approx.
    flashEraseS: 0,
    flashPageBytes: 4,
    rtc: false,
    driftPpm: 20_000,
    batteryMah: 225,
    volts: 3,
    sleepA: 1e-6,
    cpuA: 9e-3,
    txA: 11.3e-3,
    rxA: 13.5e-3,
    radio: 'ieee802154',
    // Whatever RAM is left after the stack and the radio buffers: under one token.
    budgets: { tokenBudgetBytes: 96, maxSessions: 0, replayCacheEntries: 2, maxNonces: 1 },
  },
});

export function hardwareProfile(name: string): HardwareProfile {
  const p = Object.hasOwn(HARDWARE_PROFILES, name) ? HARDWARE_PROFILES[name] : undefined;
  if (!p) throw new RangeError(`unknown hardware profile ${JSON.stringify(name.slice(0, 40))}; known: ${Object.keys(HARDWARE_PROFILES).join(', ')}`);
  return p;
}
