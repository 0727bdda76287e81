/**
 * Simulated hardware, after RFC 7228's classes of constrained devices (Table 1: class 0 well under
 * 10 KiB RAM / 100 KiB flash, class 1 ~10 KiB / ~100 KiB, class 2 ~50 KiB / ~250 KiB) and five
 * named parts. Every number is a Figure (model-sources.ts): value, source, where in it, and for an
 * estimate why. Each part has ONE configuration its figures agree on: which RAM survives sleep,
 * which oscillator keeps time, which supply feeds it. Crypto is software (no accelerator, the
 * conservative case and what the device runtime does), one named implementation per algorithm on
 * each part, with that implementation's published figures.
 */
import { est, fig, valuesOf, type Figure } from './model-sources.js';

export type RadioName = 'ieee802154' | 'ble' | 'wifi' | 'nrf24';
export type BatteryName = 'cr2032' | '2xAA';

export interface CryptoCycles {
  /**
   * Ed25519 verification (RFC 8032 §5.1.7), cycles; its SHA-512 is charged per block on top. Where
   * the published figure is a whole verify of a short message, the 1-2 blocks counted twice are
   * under 1 % of it.
   */
  ed25519Verify: number;
  /** Ed25519 signing without its two SHA-512 hashes. */
  ed25519Sign: number;
  /** ECDSA P-256 verification of a given hash (the SHA-256 is charged per block). */
  es256Verify: number;
  es256Sign: number;
  /** One SHA-256 compression (64-byte block): HMAC, digests and HKDF are counted in these. */
  sha256Block: number;
  /** One SHA-512 compression (128-byte block): Ed25519's hashing (RFC 8032), SHA-384/512. */
  sha512Block: number;
  /** One AES-128 block encryption: AES-CCM and the CTR_DRBG are counted in these. */
  aesBlock: number;
  /** Fixed CPU work per message handled (CBOR decode, dispatch), cycles. */
  messageOverhead: number;
}

/** The numeric fields of a profile besides the crypto cycles; every one has a Figure. */
export interface HardwareNumbers {
  cpuHz: number;
  /** All of the part's RAM. */
  totalRamBytes: number;
  /** RAM kept through the modelled sleep: what keybound's budgets come from (ram-budget.ts). */
  ramBytes: number;
  flashBytes: number;
  /** Erase cycles per page the flash is rated for. */
  flashEndurance: number;
  /** The flash's programming unit (a word or a page) and the time to program one. */
  flashProgramBytes: number;
  flashProgramS: number;
  /** Erase unit (page/segment/sector) and the time to erase one. */
  flashPageBytes: number;
  flashEraseS: number;
  /** Current while the flash programs or erases (the CPU stalls on these parts). */
  flashA: number;
  /** The timekeeping crystal's tolerance at 25 °C, ppm; temperature adds to it (clock-drift.ts). */
  crystalPpm: number;
  /** The part's lowest supply voltage at the modelled clock, radio included. */
  minSupplyV: number;
  /** Currents in amperes: sleep in the configuration described, CPU active, radio TX and RX. */
  sleepA: number;
  cpuA: number;
  txA: number;
  rxA: number;
  /** Per wake: crystal and radio start-up (or boot), time and mean current. */
  wakeStartupS: number;
  wakeStartupA: number;
  /** Per wake: re-joining the network for a part that drops its link in sleep (Wi-Fi). */
  reassociateS: number;
  reassociateA: number;
}

export interface HardwareProfile extends HardwareNumbers {
  name: string;
  part: string;
  rfc7228Class: 0 | 1 | 2;
  /** The sleep configuration every figure above agrees with. */
  sleepMode: string;
  /** A real-time clock (time of day) or only a counter since boot (clock-less: exi tokens). */
  rtc: boolean;
  radio: RadioName;
  battery: BatteryName;
  /** The part runs from a boost converter at this voltage (battery-models.ts), or directly from the battery. */
  boostToV?: number;
  /** The named implementations the cycle figures are from. */
  crypto: { ed25519: string; es256: string };
  cycles: CryptoCycles;
  /** Every number above with its source: keys are the field names, `cycles.<name>` for cycles. */
  figures: Readonly<Record<string, Figure>>;
}

interface ProfileSpec extends Omit<HardwareProfile, keyof HardwareNumbers | 'cycles' | 'figures'> {
  numbers: Record<keyof HardwareNumbers, Figure>;
  cycles: Record<keyof CryptoCycles, Figure>;
}

function profile(spec: ProfileSpec): HardwareProfile {
  const { numbers, cycles, ...rest } = spec;
  const figures: Record<string, Figure> = { ...numbers };
  for (const [k, f] of Object.entries(cycles)) figures[`cycles.${k}`] = f;
  return Object.freeze({ ...rest, ...valuesOf(numbers), cycles: Object.freeze(valuesOf(cycles)), figures: Object.freeze(figures) });
}

const KiB = 1024;
/** Cycles of a published time at a published clock. */
const cyclesOf = (seconds: number, hz: number): number => Math.round(seconds * hz);

const FLASH_AT_CPU = 'no separate program/erase current in the document: the CPU stalls while the flash programs, so the part draws about its active current (the charge pump adds little on these parts)';
const MSG_WHY = 'CBOR decode and dispatch of a ~200-byte message at ~100 cycles/byte (a byte-at-a-time C decoder, TinyCBOR/NanoCBOR style) on a 32-bit core; 8/16-bit cores scaled by their SHA-256 block ratio';
const SHA_WHY = 'SHA-256 in portable C runs ~45-50 cycles/byte on Cortex-M3/M4 (~3 000 per 64-byte block); no single document for this part';
const SHA512_WHY = 'SHA-512 needs 64-bit adds and rotates, two registers each on a 32-bit core: a 128-byte block costs ~2.5x a SHA-256 block';

export const HARDWARE_PROFILES: Readonly<Record<string, HardwareProfile>> = Object.freeze({
  /** Class 2: a Cortex-M4F radio SoC with room to spare, on a coin cell. */
  'nrf52840': profile({
    name: 'nrf52840',
    part: 'Nordic nRF52840 (Cortex-M4F 64 MHz, 802.15.4)',
    rfc7228Class: 2,
    sleepMode: 'System ON, all 256 KiB RAM retained, RTC on the 32.768 kHz crystal (LFXO)',
    rtc: true,
    radio: 'ieee802154',
    battery: 'cr2032',
    crypto: { ed25519: 'estimate from Fujii-Aranha X25519 (no published Cortex-M4 Ed25519 library figure pinned)', es256: 'P256-Cortex-M4 (Emil Lenngren), commit ecd3ec2' },
    numbers: {
      cpuHz: fig(64_000_000, 'PS52840', 'Key features: 64 MHz Arm Cortex-M4F'),
      totalRamBytes: fig(256 * KiB, 'PS52840', 'Key features: 256 kB RAM'),
      ramBytes: fig(256 * KiB, 'PS52840', 'Sleep current table: ION_RAMON_RTC retains all 256 kB (the sleep figure below)'),
      flashBytes: fig(1024 * KiB, 'PS52840', 'Key features: 1 MB flash'),
      flashEndurance: fig(10_000, 'PS52840', 'NVMC electrical specification: endurance 10 000 write/erase cycles'),
      flashProgramBytes: fig(4, 'PS52840', 'NVMC: writes are 32-bit words'),
      flashProgramS: fig(41e-6, 'PS52840', 'NVMC electrical specification: tWRITE 41 µs per word'),
      flashPageBytes: fig(4 * KiB, 'PS52840', 'NVMC: 4 kB pages'),
      flashEraseS: fig(85e-3, 'PS52840', 'NVMC electrical specification: tERASEPAGE 85 ms'),
      flashA: est(3.3e-3, FLASH_AT_CPU),
      crystalPpm: fig(20, 'FC135', 'frequency tolerance ±20 ppm at 25 °C'),
      minSupplyV: fig(1.7, 'PS52840', 'Recommended operating conditions: VDD 1.7-3.6 V'),
      sleepA: fig(3.16e-6, 'PS52840', 'Sleep current table: ION_RAMON_RTC, System ON, full RAM retention, wake on RTC: 3.16 µA (1.5 µA is with no RAM retained; quoted by issue 16)'),
      cpuA: fig(3.3e-3, 'PS52840', 'CPU current table: CPU running CoreMark from flash, DC/DC, 3 V: 3.3 mA'),
      txA: fig(4.8e-3, 'PS52840', 'Radio current table: TX at 0 dBm, DC/DC, 3 V: 4.8 mA'),
      rxA: fig(4.6e-3, 'PS52840', 'Radio current table: RX 1 Mbit/s, DC/DC: 4.6 mA (the 802.15.4 receiver is taken at the same current)'),
      wakeStartupS: est(0.5e-3, 'HFXO start-up ~0.36 ms (PS, 32 MHz crystal oscillator: typical with the recommended crystal) plus RADIO ramp-up 140 µs (PS, RADIO timing: default ramp-up mode)', 'PS52840'),
      wakeStartupA: est(1.5e-3, 'mean of the HFXO start-up (~0.25 mA) and the radio ramp-up (~RX current) weighted by time', 'PS52840'),
      reassociateS: fig(0, 'IEEE802154', 'a sleeping 802.15.4 node keeps its association and addresses: nothing to re-join per wake'),
      reassociateA: fig(0, 'IEEE802154', 'as above'),
    },
    cycles: {
      ed25519Verify: est(1_400_000, 'X25519 is 907 k cycles on the M4 [FA17]; a verify is a double-base scalar multiplication plus point decompression, ~1.5x a ladder', 'FA17'),
      ed25519Sign: est(550_000, 'a fixed-base scalar multiplication with a precomputed table, ~0.6x the X25519 ladder of [FA17]', 'FA17'),
      es256Verify: fig(976_000, 'P256M4', 'Verify ECDSA 976k cycles, 15.3 ms at 64 MHz on an nRF52840 (hash excluded)'),
      es256Sign: fig(375_000, 'P256M4', 'Sign ECDSA 375k cycles, 5.9 ms at 64 MHz (hash excluded)'),
      sha256Block: est(3_000, SHA_WHY),
      sha512Block: est(7_500, SHA512_WHY),
      aesBlock: fig(550, 'SS16', 'table-based AES-128 on Cortex-M4 ~34 cycles/byte, x16'),
      messageOverhead: est(20_000, MSG_WHY),
    },
  }),
  /** Class 2 (and more): a Wi-Fi part on 2xAA through a boost converter. */
  'esp32': profile({
    name: 'esp32',
    part: 'Espressif ESP32 (Xtensa LX6 240 MHz, Wi-Fi)',
    rfc7228Class: 2,
    sleepMode: 'deep sleep, RTC timer on an external 32.768 kHz crystal, RTC fast+slow memory (16 KiB) retained, Wi-Fi link dropped',
    rtc: true,
    radio: 'wifi',
    battery: '2xAA',
    boostToV: 3.3,
    crypto: { ed25519: 'libsodium (ESP-IDF component)', es256: 'micro-ecc (portable C), estimated from its Cortex-M4 figure' },
    numbers: {
      cpuHz: fig(240_000_000, 'ESP32', 'CPU and memory: Xtensa LX6 up to 240 MHz'),
      totalRamBytes: fig(520 * KiB, 'ESP32', 'CPU and memory: 520 KB internal SRAM'),
      ramBytes: fig(16 * KiB, 'ESP32TRM', 'RTC fast (8 KB) + RTC slow (8 KB) memory: all that deep sleep keeps'),
      flashBytes: fig(4 * 1024 * KiB, 'W25Q', '32 Mbit (4 MiB) SPI NOR, the size fitted to ESP32-WROOM-32 modules (representative part: Espressif does not name the die)'),
      flashEndurance: fig(100_000, 'W25Q', 'Features: more than 100 000 erase/program cycles'),
      flashProgramBytes: fig(256, 'W25Q', 'AC electrical characteristics: page program, 256-byte pages'),
      flashProgramS: fig(0.4e-3, 'W25Q', 'AC electrical characteristics: tPP 0.4 ms typ per page'),
      flashPageBytes: fig(4 * KiB, 'W25Q', 'AC electrical characteristics: 4 KB sector erase'),
      flashEraseS: fig(45e-3, 'W25Q', 'AC electrical characteristics: tSE 45 ms typ'),
      flashA: est(50e-3, FLASH_AT_CPU),
      crystalPpm: fig(20, 'FC135', 'frequency tolerance ±20 ppm at 25 °C (external 32 kHz crystal on XTAL_32K)'),
      minSupplyV: fig(3.0, 'ESP32', 'recommended operating conditions of the ESP32-WROOM-32 module: 3.0-3.6 V (hence the boost converter on 2xAA)'),
      sleepA: fig(10e-6, 'ESP32', 'power modes: Deep-sleep, RTC timer + RTC memory: 10 µA'),
      cpuA: fig(50e-3, 'ESP32', 'power modes: Modem-sleep at 240 MHz 30-68 mA (we take 50 mA, mid-range)'),
      txA: fig(190e-3, 'ESP32', 'RF current consumption: TX 802.11g 54 Mbit/s at 16 dBm: 190 mA'),
      rxA: fig(100e-3, 'ESP32', 'RF current consumption: RX 802.11b/g/n: 95-100 mA'),
      wakeStartupS: est(0.2, 'deep sleep is a reset: ROM boot, bootloader and app start before the radio is up (~0.15-0.3 s in ESP-IDF defaults)'),
      wakeStartupA: est(40e-3, 'CPU running at reduced clock during boot, between the datasheet\'s modem-sleep figures'),
      reassociateS: est(0.6, 'Wi-Fi scan, authentication, association and the WPA2 handshake after every deep sleep: issue 16 gives ~0.3-1 s', 'ISSUE16'),
      reassociateA: fig(100e-3, 'ISSUE16', '~100 mA during association (the receiver is on most of the time; RX 95-100 mA per the ESP32 datasheet)'),
    },
    cycles: {
      ed25519Verify: fig(cyclesOf(54e-3, 240e6), 'LIBSODIUM_ESP32', '~54 ms at 240 MHz = ~13 M cycles (includes SHA-512 of a short message)'),
      ed25519Sign: est(5_000_000, 'libsodium/ref10 signs with a fixed-base comb table: ~0.4x its verify on 32-bit cores (SUPERCOP ref10 ratio)', 'LIBSODIUM_ESP32'),
      es256Verify: est(cyclesOf(52.012e-3, 180e6), 'micro-ecc measured on a Cortex-M4 (STM32F446, 52.0 ms at 180 MHz = 9.4 M cycles); the LX6 has a 32x32 multiplier like the M4 but no UMAAL, and runs from cached flash', 'THINGSAT'),
      es256Sign: est(cyclesOf(47.17e-3, 180e6), 'micro-ecc sign on the STM32F446 (47.2 ms at 180 MHz = 8.5 M cycles), as above', 'THINGSAT'),
      sha256Block: est(4_500, `${SHA_WHY}; x1.5 for code in cached SPI flash`),
      sha512Block: est(11_250, SHA512_WHY),
      aesBlock: est(825, 'table-based AES-128 ([SS16] M4 figure) x1.5 for the LX6 running from cached flash', 'SS16'),
      messageOverhead: est(30_000, MSG_WHY),
    },
  }),
  /** Class 1: a Cortex-M3 802.15.4 SoC with 32 KiB RAM (16 KiB retained), on 2xAA. */
  'cc2538': profile({
    name: 'cc2538',
    part: 'TI CC2538 (Cortex-M3 32 MHz, 802.15.4)',
    rfc7228Class: 1,
    sleepMode: 'PM2, sleep timer on the 32.768 kHz crystal, 16 KiB of the 32 KiB RAM retained',
    rtc: false,
    radio: 'ieee802154',
    battery: '2xAA',
    crypto: { ed25519: 'c25519 (RIOT package), measured on a Cortex-M3', es256: 'micro-ecc (RIOT package), measured on a Cortex-M3' },
    numbers: {
      cpuHz: fig(32_000_000, 'CC2538', 'Features: Cortex-M3 up to 32 MHz'),
      totalRamBytes: fig(32 * KiB, 'CC2538', 'Features: 32 KB RAM'),
      ramBytes: fig(16 * KiB, 'CC2538', 'Features: 16 KB of the RAM retained in all power modes'),
      flashBytes: fig(512 * KiB, 'CC2538', 'Features: 512 KB flash'),
      flashEndurance: fig(20_000, 'CC2538', 'flash memory characteristics: 20 000 write/erase cycles'),
      flashProgramBytes: fig(4, 'CC2538', 'flash memory characteristics: programmed per 32-bit word'),
      flashProgramS: fig(20e-6, 'CC2538', 'flash memory characteristics: word write time 20 µs'),
      flashPageBytes: fig(2 * KiB, 'CC2538', 'flash memory characteristics: 2 KB page'),
      flashEraseS: fig(20e-3, 'CC2538', 'flash memory characteristics: page erase 20 ms'),
      flashA: est(7e-3, FLASH_AT_CPU),
      crystalPpm: fig(20, 'FC135', 'frequency tolerance ±20 ppm at 25 °C (32 kHz XOSC for the sleep timer)'),
      minSupplyV: fig(2.0, 'CC2538', 'recommended operating conditions: 2.0-3.6 V'),
      sleepA: fig(1.3e-6, 'CC2538', 'Power mode 2 (sleep timer running): 1.3 µA; the figure does not name the 32 kHz source, we take it with the crystal'),
      cpuA: fig(7e-3, 'CC2538', 'Active mode, 32 MHz: 7 mA'),
      txA: fig(24e-3, 'CC2538', 'TX at 0 dBm: 24 mA'),
      rxA: fig(20e-3, 'CC2538', 'RX: 20 mA'),
      wakeStartupS: est(0.6e-3, '32 MHz crystal start-up from PM2 (order of 0.5 ms for this class of part) plus RX calibration (192 µs, the 802.15.4 turnaround)', 'CC2538'),
      wakeStartupA: est(3e-3, 'oscillator start-up at a few mA, then the synthesizer at RX current: time-weighted mean', 'CC2538'),
      reassociateS: fig(0, 'IEEE802154', 'a sleeping 802.15.4 node keeps its association: nothing to re-join per wake'),
      reassociateA: fig(0, 'IEEE802154', 'as above'),
    },
    cycles: {
      // Measured on an STM32F103RB (Cortex-M3, 72 MHz, 2 flash wait states): cycles carry the wait
      // states, an overestimate of a few % to ~20 % for the CC2538's prefetching flash at 32 MHz.
      ed25519Verify: fig(cyclesOf(2.935644, 72e6), 'THINGSAT', 'c25519 on Nucleo F103RB, 16-byte message: verify 2 935 644 µs at 72 MHz = 211.4 M cycles (its SHA-512 included)'),
      ed25519Sign: fig(cyclesOf(1.284209, 72e6), 'THINGSAT', 'c25519 on Nucleo F103RB: sign 1 284 209 µs at 72 MHz = 92.5 M cycles'),
      es256Verify: fig(cyclesOf(0.167259, 72e6), 'THINGSAT', 'micro-ecc secp256r1 on Nucleo F103RB: verify 167 259 µs at 72 MHz = 12.0 M cycles'),
      es256Sign: fig(cyclesOf(0.150669, 72e6), 'THINGSAT', 'micro-ecc secp256r1 on Nucleo F103RB: sign 150 669 µs at 72 MHz = 10.8 M cycles'),
      sha256Block: est(3_300, `${SHA_WHY}; the M3 end of the range`),
      sha512Block: est(8_250, SHA512_WHY),
      aesBlock: fig(650, 'SS16', 'table-based AES-128 on Cortex-M3 ~40 cycles/byte, x16'),
      messageOverhead: est(22_000, MSG_WHY),
    },
  }),
  /** Class 1: a 16-bit MSP430 with a CC2520 802.15.4 transceiver (the classic sensor mote), on 2xAA. */
  'msp430': profile({
    name: 'msp430',
    part: 'TI MSP430F5438A 16 MHz + CC2520 (802.15.4)',
    rfc7228Class: 1,
    sleepMode: 'MSP430 LPM3 on the XT1 32.768 kHz crystal (all RAM kept), CC2520 in LPM2',
    rtc: false,
    radio: 'ieee802154',
    battery: '2xAA',
    crypto: { ed25519: 'estimate from Düll et al. X25519 on MSP430X (no Ed25519 library figure pinned)', es256: 'estimate from micro-ecc\'s Cortex-M3 figure (no MSP430 P-256 figure found)' },
    numbers: {
      cpuHz: fig(16_000_000, 'F5438', 'run at 16 MHz, below the 25 MHz maximum, as motes do'),
      totalRamBytes: fig(16 * KiB, 'F5438', 'device overview: 16 KB RAM'),
      ramBytes: fig(16 * KiB, 'F5438', 'LPM3 keeps all RAM'),
      flashBytes: fig(256 * KiB, 'F5438', 'device overview: 256 KB flash'),
      flashEndurance: fig(10_000, 'F5438', 'Flash Memory: program/erase endurance 10^4 cycles min'),
      flashProgramBytes: fig(2, 'F5438', 'Flash Memory: word (16-bit) programming'),
      flashProgramS: fig(85e-6, 'F5438', 'Flash Memory: tWord 64-85 µs (we take the max)'),
      flashPageBytes: fig(512, 'F5438', 'Flash Memory: 512-byte main-memory segments'),
      flashEraseS: fig(32e-3, 'F5438', 'Flash Memory: segment erase tErase 23-32 ms (we take the max)'),
      flashA: est(3.7e-3, FLASH_AT_CPU),
      crystalPpm: fig(20, 'FC135', 'frequency tolerance ±20 ppm at 25 °C (XT1)'),
      minSupplyV: fig(2.2, 'F5438', 'PMM: 16 MHz needs PMMCOREVx = 2, DVCC at least 2.2 V (the CC2520 needs 1.8 V)'),
      sleepA: fig(2e-6, 'F5438', 'LPM3, XT1 32 768 Hz crystal, 3 V: ~2 µA (CC2520 LPM2 adds 0.03 µA, CC2520 datasheet)'),
      cpuA: fig(3.7e-3, 'F5438', 'active mode from flash: ~230 µA/MHz x 16 MHz'),
      txA: fig(25.8e-3, 'CC2520', 'TX at 0 dBm: 25.8 mA'),
      rxA: fig(18.5e-3, 'CC2520', 'RX: 18.5 mA'),
      wakeStartupS: est(0.5e-3, 'CC2520 LPM2 to active: crystal start-up (~0.3 ms) plus voltage regulator start-up', 'CC2520'),
      wakeStartupA: est(1.6e-3, 'CC2520 idle current during crystal start-up, plus the MCU awake to drive it', 'CC2520'),
      reassociateS: fig(0, 'IEEE802154', 'a sleeping 802.15.4 node keeps its association: nothing to re-join per wake'),
      reassociateA: fig(0, 'IEEE802154', 'as above'),
    },
    cycles: {
      ed25519Verify: est(11_000_000, '~2x DHH15\'s X25519 on MSP430X with the 32-bit hardware multiplier (5.3 M cycles): a verify is a double-base multiplication plus decompression', 'DHH15'),
      ed25519Sign: est(4_500_000, 'fixed-base multiplication with a table, ~0.85x the DHH15 X25519 ladder', 'DHH15'),
      es256Verify: est(48_000_000, 'micro-ecc verify on a Cortex-M3 is 12.0 M cycles (THINGSAT); a 16x16 multiplier needs ~4x the word multiplications of a 32x32 one', 'THINGSAT'),
      es256Sign: est(43_000_000, 'micro-ecc sign on a Cortex-M3 is 10.8 M cycles (THINGSAT), x4 as above', 'THINGSAT'),
      sha256Block: est(15_000, 'SHA-256 on a 16-bit core: 32-bit adds and rotates take 2-3 instructions each, ~5x the Cortex-M figure'),
      sha512Block: est(60_000, 'SHA-512 on a 16-bit core: 64-bit words are 4 registers, ~4x a SHA-256 block per 128-byte block'),
      aesBlock: fig(6_600, 'SLAA397', 'encryption of one block ~6 600 cycles (approx., read from the report\'s cycle table)'),
      messageOverhead: est(100_000, MSG_WHY),
    },
  }),
  /** Class 0: 2 KiB of RAM. Too small to hold a token: the runtime must refuse, not overflow. */
  'class0-avr': profile({
    name: 'class0-avr',
    part: 'Microchip ATmega328P 8 MHz (class 0) + nRF24L01+ radio',
    rfc7228Class: 0,
    sleepMode: 'ATmega328P power-save with Timer2 on a 32.768 kHz crystal (CPU on the internal 8 MHz RC), nRF24L01+ power down',
    rtc: false,
    radio: 'nrf24',
    battery: 'cr2032',
    crypto: { ed25519: 'NaCl for AVR (Hutter-Schwabe 2013)', es256: 'estimate (no ATmega328P P-256 figure pinned; unused: the part refuses every token for want of RAM)' },
    numbers: {
      cpuHz: fig(8_000_000, 'AVR', 'Speed grades: 8 MHz (internal calibrated RC oscillator) is within the 0-10 MHz grade at 2.7-5.5 V'),
      totalRamBytes: fig(2 * KiB, 'AVR', 'Features: 2 KB SRAM'),
      ramBytes: fig(2 * KiB, 'AVR', 'power-save keeps all SRAM'),
      flashBytes: fig(32 * KiB, 'AVR', 'Features: 32 KB flash'),
      flashEndurance: fig(10_000, 'AVR', 'Features: 10 000 flash write/erase cycles'),
      flashProgramBytes: fig(128, 'AVR', 'Memory Programming, page size table: 64 words = 128 bytes, written as a whole by SPM'),
      flashProgramS: fig(4.5e-3, 'AVR', 'Boot Loader Support, programming time for flash when using SPM: page write 3.7-4.5 ms (max)'),
      flashPageBytes: fig(128, 'AVR', 'Memory Programming, page size table: 128-byte pages'),
      flashEraseS: fig(4.5e-3, 'AVR', 'Boot Loader Support, programming time for flash when using SPM: page erase 3.7-4.5 ms (max); erase + write ~9 ms per page (issue 16)'),
      flashA: est(3e-3, FLASH_AT_CPU),
      crystalPpm: fig(20, 'FC135', 'frequency tolerance ±20 ppm at 25 °C (TOSC1/TOSC2 crystal)'),
      minSupplyV: fig(2.7, 'AVR', 'Speed grades: 0-10 MHz needs 2.7-5.5 V (the nRF24L01+ needs 1.9 V)'),
      sleepA: est(1.9e-6, 'ATmega328P power-save with the 32 kHz RTC: 0.75 µA at 1.8 V (Features), ~1 µA at 3 V; plus nRF24L01+ power down 0.9 µA (nRF24L01+ PS, power consumption table)', 'AVR'),
      cpuA: est(3e-3, 'the datasheet gives active current at other points (4 MHz at 3 V, 8 MHz at 5 V); at 8 MHz and 3 V we take 3 mA, between them', 'AVR'),
      txA: fig(11.3e-3, 'NRF24', 'Electrical specifications, power consumption: TX at 0 dBm 11.3 mA'),
      rxA: fig(13.5e-3, 'NRF24', 'Electrical specifications, power consumption: RX at 2 Mbit/s 13.5 mA'),
      wakeStartupS: fig(1.5e-3, 'NRF24', 'Timing information: Tpd2stby, power down to standby (crystal start-up) 1.5 ms'),
      wakeStartupA: fig(0.4e-3, 'NRF24', 'Electrical specifications, power consumption: average current during the 1.5 ms crystal oscillator start-up 400 µA'),
      reassociateS: fig(0, 'NRF24', 'Enhanced ShockBurst has no association'),
      reassociateA: fig(0, 'NRF24', 'as above'),
    },
    cycles: {
      ed25519Verify: fig(32_600_000, 'HS13', 'crypto_sign_open ~32.6 M cycles (SHA-512 of a short message included)'),
      ed25519Sign: fig(23_000_000, 'HS13', 'crypto_sign ~23 M cycles (its two SHA-512 included)'),
      es256Verify: est(80_000_000, 'order of magnitude only: P-256 lacks Curve25519\'s fast reduction; ~2.5x the HS13 Ed25519 verify on the same 8-bit core'),
      es256Sign: est(35_000_000, 'order of magnitude only, as above (~1.5x HS13 signing)'),
      sha256Block: est(24_000, 'SHA-256 on an 8-bit core: ~8x the Cortex-M figure (32-bit operations are four byte operations plus carries)'),
      sha512Block: est(96_000, 'SHA-512 on an 8-bit core: 64-bit words are 8 registers, ~4x a SHA-256 block'),
      aesBlock: fig(3_000, 'AVRCRYPTO', 'AES-128 encryption ~2 700-3 300 cycles/block (approx.)'),
      messageOverhead: est(160_000, MSG_WHY),
    },
  }),
});

export function hardwareProfile(name: string): HardwareProfile {
  const p = Object.hasOwn(HARDWARE_PROFILES, name) ? HARDWARE_PROFILES[name] : undefined;
  if (!p) throw new RangeError(`unknown hardware profile ${JSON.stringify(name.slice(0, 40))}; known: ${Object.keys(HARDWARE_PROFILES).join(', ')}`);
  return p;
}
