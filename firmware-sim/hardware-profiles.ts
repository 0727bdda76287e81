/**
 * Simulated hardware, after RFC 7228's classes of constrained devices (Table 1: class 0 well under
 * 10 KiB RAM / 100 KiB flash, class 1 ~10 KiB / ~100 KiB, class 2 ~50 KiB / ~250 KiB) and a few
 * named parts. Every default number says where it comes from. Figures marked "approx." are
 * rounded from the cited source or scaled from a neighbouring part, and are the first thing to
 * replace with a measurement on real hardware. Cycle counts are for software crypto (no
 * accelerator), which is the conservative case and what the keybound device runtime does.
 */
export type RadioName = 'ieee802154' | 'ble' | 'wifi' | 'nrf24';

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
  /** All of the part's RAM; keybound's budgets are a stated share of it (ram-budget.ts). */
  ramBytes: number;
  /** All of the part's flash; keybound's records get a stated share of it (flash-storage.ts). */
  flashBytes: number;
  /** Flash endurance in erase cycles per page; wear is counted against it (flash-storage.ts). */
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
 * [SP80090A] NIST SP 800-90A Rev. 1 §10.2 CTR_DRBG: random bytes come from an AES-128 CTR_DRBG
 *   seeded once from the part's entropy source, so one random byte costs 1/16 of an AES block
 *   (plus the update step, amortized over a request: ignored). Estimate derived from aesBlock; the
 *   entropy source itself (e.g. the nRF52840 RNG peripheral, SLAA338's clock-jitter method on
 *   MSP430) is paid at seeding, outside the per-request path.
 * [MSG] Per-message CPU work besides crypto: an estimate, not a measurement. CBOR decoding and
 *   dispatch of a ~200-byte message at ~100 cycles/byte on a Cortex-M4 (a byte-at-a-time C
 *   decoder, TinyCBOR/NanoCBOR style) = 20 000 cycles; other cores scaled by their [SHA]
 *   per-block ratio to the M4 (the nearest cited integer workload we have).
 * [ESP32] Espressif ESP32 Datasheet v4: Xtensa LX6 240 MHz; modem-sleep 240 MHz 30-68 mA (we
 *   take 50 mA); Wi-Fi TX 802.11n ~180 mA, RX ~100 mA; deep sleep with RTC timer ~10 µA; 520 KiB
 *   SRAM. Software crypto taken as 1.5x the Cortex-M4 figures (estimate: no single-cycle
 *   32x32+64 multiply-accumulate like the M4's UMAAL, and code runs from SPI flash through a cache).
 * [W25Q] Winbond W25Q32JV datasheet (the 4 MiB SPI NOR class fitted to ESP32-WROOM-32 modules;
 *   Espressif does not name the die, so this is a representative part), §9.6 AC Electrical
 *   Characteristics: page program tPP 0.4 ms typ (256-byte page), 4 KiB sector erase tSE 45 ms
 *   typ; Features: more than 100 000 erase/program cycles.
 * [CC2538] TI CC2538 datasheet (SWRS096): Cortex-M3 32 MHz, 32 KiB RAM, 512 KiB flash; active
 *   MCU 32 MHz 7 mA; RX 20 mA, TX 0 dBm 24 mA; PM2 (sleep timer on) 1.3 µA; flash write 20 µs
 *   per word, page (2 KiB) erase 20 ms, 20 000 cycles endurance. Curve figures for the M3 are
 *   [FA17]'s M4 ones x1.6 (estimate: the M3 has no UMAAL/DSP multiply-accumulate).
 * [F5438] TI MSP430F5438A datasheet (SLAS655): 25 MHz max, ~230 µA/MHz active; LPM3 ~2 µA;
 *   "Flash Memory" electrical characteristics: word/byte program time tWord 64-85 µs, segment
 *   erase tErase 23-32 ms, program/erase endurance 10^4 cycles min, 512-byte main-memory
 *   segments. 16 KiB RAM, 256 KiB flash. With a CC2520 radio (SWRS068): RX 18.5 mA, TX 0 dBm
 *   25.8 mA.
 * [AVR] Microchip ATmega328P datasheet (DS40002061): 2 KiB SRAM, 32 KiB flash, 10 000 flash
 *   write/erase cycles (Features); flash page 64 words = 128 bytes ("Memory Programming", table of
 *   words per page); self-programming "SPM programming time" table: Flash write (page erase, page
 *   write and write lock bits by SPM) 3.7 ms min, 4.5 ms max. (tWD_FLASH = 4.5 ms in the serial
 *   programming wait-delay table is the same figure seen from an external programmer; the 3.3 ms
 *   of "EEPROM Programming Time" is the 1 KiB EEPROM's byte write, not flash.) Speed grades: 16 MHz
 *   needs ~3.8 V or more, so a 3 V part runs at 8 MHz (as 3.3 V Arduino Pro Mini boards do).
 *   Power consumption at 1 MHz, 1.8 V, 25 °C: power-save mode with the 32 kHz RTC 0.75 µA (Features).
 * [NRF24] Nordic nRF24L01+ Product Specification v1.0, Table 1 "quick reference data" and §13
 *   electrical specifications: TX at 0 dBm 11.3 mA, RX at 2 Mbps 13.5 mA, power down 900 nA;
 *   the link itself is in radio-link.ts.
 * Batteries: CR2032 225 mAh nominal at 3 V (Panasonic CR2032 datasheet); 2xAA alkaline ~2 500
 *   mAh at 3 V (Energizer E91 datasheet, at moderate drain to 0.8 V per cell; approx.).
 * Crystals: 32.768 kHz watch crystals ±20 ppm frequency tolerance (e.g. Epson FC-135 datasheet);
 *   internal RC oscillators, what a clock-less part keeps its counter on, drift by ~±2% (20 000
 *   ppm) over temperature (approx.: the order given for the MSP430's REFO/VLO and the CC2538's
 *   32 kHz RCOSC without recalibration).
 */
/** [MSG]: the Cortex-M4 figure other cores are scaled from by their [SHA] ratio. */
const MESSAGE_OVERHEAD_M4 = 20_000;
const M4_SHA256_BLOCK = 3_000;

const M4_CYCLES: CryptoCycles = {
  ed25519Verify: 1_400_000, // [FA17] approx.
  ed25519Sign: 550_000, // [FA17] approx.: fixed-base scalar multiplication + 2 SHA-512
  es256Verify: 4_200_000, // [uECC] approx., ~3x Ed25519 verify
  es256Sign: 1_700_000, // [uECC] approx.
  sha256Block: M4_SHA256_BLOCK, // [SHA] approx.
  aesBlock: 550, // [SS16]
  randomByte: 35, // [SP80090A] estimate: ceil(550 / 16)
  messageOverhead: MESSAGE_OVERHEAD_M4, // [MSG] estimate
};

export const HARDWARE_PROFILES: Readonly<Record<string, HardwareProfile>> = Object.freeze({
  /** Class 2: a Cortex-M4F radio SoC with room to spare. */
  'nrf52840': {
    name: 'nrf52840',
    part: 'Nordic nRF52840 (Cortex-M4F 64 MHz, 802.15.4)',
    rfc7228Class: 2,
    cpuHz: 64_000_000, // [PS52840]
    cycles: M4_CYCLES,
    ramBytes: 256 * 1024, // [PS52840]
    flashBytes: 1024 * 1024, // [PS52840]
    flashEndurance: 10_000, // [PS52840] NVMC
    flashWordWriteS: 41e-6, // [PS52840] NVMC
    flashEraseS: 85e-3, // [PS52840] NVMC
    flashPageBytes: 4096, // [PS52840] NVMC
    rtc: true,
    driftPpm: 20, // 32.768 kHz crystal (Crystals)
    batteryMah: 225, // CR2032 (Batteries)
    volts: 3, // CR2032 nominal (Batteries)
    sleepA: 1.5e-6, // [PS52840] System ON, RTC running
    cpuA: 3.3e-3, // [PS52840] CoreMark from flash, DC/DC
    txA: 4.8e-3, // [PS52840] TX 0 dBm, DC/DC
    rxA: 4.6e-3, // [PS52840] RX 1 Mbit/s
    radio: 'ieee802154',
  },
  /** Class 2 (and more): a Wi-Fi part, mains or big battery. */
  'esp32': {
    name: 'esp32',
    part: 'Espressif ESP32 (Xtensa LX6 240 MHz, Wi-Fi)',
    rfc7228Class: 2,
    cpuHz: 240_000_000, // [ESP32]
    cycles: {
      // [ESP32] estimate: every figure is the Cortex-M4 one x1.5.
      ed25519Verify: 2_100_000,
      ed25519Sign: 825_000,
      es256Verify: 6_300_000,
      es256Sign: 2_550_000,
      sha256Block: 4_500,
      aesBlock: 825,
      randomByte: 52, // [SP80090A] estimate: ceil(825 / 16)
      messageOverhead: 30_000, // [MSG] estimate: 20 000 x 4 500 / 3 000
    },
    ramBytes: 520 * 1024, // [ESP32]
    flashBytes: 4 * 1024 * 1024, // [W25Q] 4 MiB module flash
    flashEndurance: 100_000, // [W25Q] Features
    flashWordWriteS: 0.4e-3 / 64, // [W25Q] tPP 0.4 ms per 256-byte page, per 4-byte word: 6.25 µs
    flashEraseS: 45e-3, // [W25Q] tSE, 4 KiB sector
    flashPageBytes: 4096, // [W25Q] erase sector
    rtc: true,
    driftPpm: 20, // 32.768 kHz crystal (Crystals)
    batteryMah: 2500, // 2xAA (Batteries)
    volts: 3.3, // [ESP32] typical VDD 3.3 V, behind a regulator
    sleepA: 10e-6, // [ESP32] deep sleep, RTC timer
    cpuA: 50e-3, // [ESP32] modem-sleep at 240 MHz, mid-range
    txA: 180e-3, // [ESP32] 802.11n TX
    rxA: 100e-3, // [ESP32] RX
    radio: 'wifi',
  },
  /** Class 1: a Cortex-M3 802.15.4 SoC with 32 KiB RAM, no calendar RTC kept across power loss. */
  'cc2538': {
    name: 'cc2538',
    part: 'TI CC2538 (Cortex-M3 32 MHz, 802.15.4)',
    rfc7228Class: 1,
    cpuHz: 32_000_000, // [CC2538]
    cycles: {
      ed25519Verify: 2_200_000, // [CC2538] estimate: [FA17] x1.6 for the M3
      ed25519Sign: 880_000, // x1.6
      es256Verify: 6_700_000, // x1.6
      es256Sign: 2_700_000, // x1.6
      sha256Block: 3_300, // [SHA] approx., the range's M3 end (~50 cycles/byte)
      aesBlock: 650, // [SS16] M3 figure
      randomByte: 41, // [SP80090A] estimate: ceil(650 / 16) (the CC2538's own RNG is an LFSR, not a DRBG)
      messageOverhead: 22_000, // [MSG] estimate: 20 000 x 3 300 / 3 000
    },
    ramBytes: 32 * 1024, // [CC2538]
    flashBytes: 512 * 1024, // [CC2538]
    flashEndurance: 20_000, // [CC2538]
    flashWordWriteS: 20e-6, // [CC2538]
    flashEraseS: 20e-3, // [CC2538]
    flashPageBytes: 2048, // [CC2538]
    rtc: false,
    driftPpm: 20_000, // internal RC oscillator (Crystals), approx.
    batteryMah: 2500, // 2xAA (Batteries)
    volts: 3, // 2 x 1.5 V nominal (Batteries)
    sleepA: 1.3e-6, // [CC2538] PM2
    cpuA: 7e-3, // [CC2538] active MCU 32 MHz
    txA: 24e-3, // [CC2538] TX 0 dBm
    rxA: 20e-3, // [CC2538] RX
    radio: 'ieee802154',
  },
  /** Class 1: a 16-bit MSP430 with an 802.15.4 transceiver (the classic sensor mote). */
  'msp430': {
    name: 'msp430',
    part: 'TI MSP430F5438A 16 MHz + CC2520 (802.15.4)',
    rfc7228Class: 1,
    cpuHz: 16_000_000, // [F5438] run below its 25 MHz maximum, as motes do
    cycles: {
      ed25519Verify: 11_000_000, // [DHH15] ~2x 5.3 M X25519 on MSP430X, approx.
      ed25519Sign: 4_500_000, // estimate: the M4 figures' sign/verify ratio (~0.4) x 11 M
      es256Verify: 33_000_000, // [uECC] ~3x, approx.
      es256Sign: 13_000_000, // estimate: ~0.4 x 33 M, as above
      sha256Block: 15_000, // [SHA] approx., 5x the M4
      aesBlock: 6_600, // [TI397] approx.
      randomByte: 413, // [SP80090A] estimate: ceil(6 600 / 16); no TRNG on the part (seeded per SLAA338)
      messageOverhead: 100_000, // [MSG] estimate: 20 000 x 15 000 / 3 000
    },
    ramBytes: 16 * 1024, // [F5438]
    flashBytes: 256 * 1024, // [F5438]
    flashEndurance: 10_000, // [F5438] 10^4 min
    flashWordWriteS: 2 * 64e-6, // [F5438] tWord min is per 16-bit word: two per modelled 4-byte word
    flashEraseS: 23e-3, // [F5438] tErase min
    flashPageBytes: 512, // [F5438] main-memory segment
    rtc: false,
    driftPpm: 20_000, // internal RC oscillator (Crystals), approx.
    batteryMah: 2500, // 2xAA (Batteries)
    volts: 3, // 2 x 1.5 V nominal (Batteries)
    sleepA: 2e-6, // [F5438] LPM3
    cpuA: 3.7e-3, // [F5438] 230 µA/MHz x 16 MHz
    txA: 25.8e-3, // [F5438] CC2520 TX 0 dBm
    rxA: 18.5e-3, // [F5438] CC2520 RX
    radio: 'ieee802154',
  },
  /** Class 0: 2 KiB of RAM. Too small to hold a token: the runtime must refuse, not overflow. */
  'class0-avr': {
    name: 'class0-avr',
    part: 'Microchip ATmega328P 8 MHz (class 0) + nRF24L01+ radio',
    rfc7228Class: 0,
    cpuHz: 8_000_000, // [AVR] speed grade at 3 V
    cycles: {
      ed25519Verify: 28_000_000, // [DHH15] ~2x 13.9 M X25519 on AVR, approx.
      ed25519Sign: 11_000_000, // estimate: ~0.4 x 28 M (the M4 figures' sign/verify ratio)
      es256Verify: 84_000_000, // [uECC] ~3x, approx.
      es256Sign: 33_000_000, // estimate: ~0.4 x 84 M
      sha256Block: 24_000, // [SHA] approx., 8x the M4
      aesBlock: 3_000, // AVR-Crypto-Lib AES-128 ~2 700-3 300 cycles/block, approx.
      randomByte: 188, // [SP80090A] estimate: ceil(3 000 / 16); no TRNG on the part
      messageOverhead: 160_000, // [MSG] estimate: 20 000 x 24 000 / 3 000
    },
    ramBytes: 2 * 1024, // [AVR]
    flashBytes: 32 * 1024, // [AVR]
    flashEndurance: 10_000, // [AVR] flash (the EEPROM's 100 000 is not what we model)
    // [AVR] SPM: page erase + page write 4.5 ms max per 128-byte page, spread over its 32 words
    // (140.6 µs a word); the erase is inside that figure, so no separate erase time.
    flashWordWriteS: 4.5e-3 / 32,
    flashEraseS: 0,
    flashPageBytes: 128, // [AVR] 64 words
    rtc: false,
    driftPpm: 20_000, // internal RC oscillator (Crystals), approx.
    batteryMah: 225, // CR2032 (Batteries)
    volts: 3, // CR2032 nominal (Batteries)
    // Estimate: [AVR] power-save with RTC 0.75 µA (given at 1.8 V; ~1 µA at 3 V, approx.) plus
    // [NRF24] power down 0.9 µA.
    sleepA: 1.9e-6,
    // Estimate: [AVR] gives typical active currents at other points (4 MHz at 3 V, 8 MHz at 5 V);
    // at 8 MHz and 3 V we take 3 mA, between them. Replace with a measurement.
    cpuA: 3e-3,
    txA: 11.3e-3, // [NRF24] TX 0 dBm
    rxA: 13.5e-3, // [NRF24] RX 2 Mbps
    radio: 'nrf24',
  },
});

export function hardwareProfile(name: string): HardwareProfile {
  const p = Object.hasOwn(HARDWARE_PROFILES, name) ? HARDWARE_PROFILES[name] : undefined;
  if (!p) throw new RangeError(`unknown hardware profile ${JSON.stringify(name.slice(0, 40))}; known: ${Object.keys(HARDWARE_PROFILES).join(', ')}`);
  return p;
}
