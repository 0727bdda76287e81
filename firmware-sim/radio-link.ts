/**
 * Radio links: how long a message takes on air, how many frames and bytes it needs, and whether
 * it gets through. A message larger than one frame is fragmented, and every fragment pays the
 * frame overhead, the CSMA backoff and the acknowledgement again, so a token that needs
 * fragmenting costs more than its byte count suggests.
 */
import type { Prng } from './prng.js';
import type { RadioName } from './hardware-profiles.js';

export interface RadioLink {
  name: RadioName;
  bitsPerSecond: number;
  /** Largest frame on air, PHY payload (PSDU) bytes. */
  maxFrameBytes: number;
  /** PHY synchronisation header and length, sent before each frame. */
  phyOverhead: number;
  /** MAC header + FCS in every frame. */
  macOverhead: number;
  /** Network/adaptation header in the first frame only (6LoWPAN IPHC + UDP, or IP + UDP). */
  firstFrameHeader: number;
  /** Extra header per fragment when a message does not fit one frame (0 when unfragmented). */
  fragmentHeader: number;
  /** Fixed time per frame: backoff, turnaround, acknowledgement, seconds. */
  perFrameS: number;
  /** Acknowledgement frame bytes on air (received by the sender). */
  ackBytes: number;
  /** Link-layer retries before a frame is given up (the message is then lost). */
  maxRetries: number;
  /** One-way latency through the gateway and broker, seconds. */
  latencyS: number;
}

/** One-way latency through the gateway and broker: an estimate (a few ms of forwarding plus queueing), not a measurement. */
const GATEWAY_LATENCY_S = 0.02;

/**
 * IEEE 802.15.4-2015 2.4 GHz O-QPSK: 250 kbit/s, aMaxPhyPacketSize 127, 6-byte SHR+PHR,
 * macMaxFrameRetries default 3, aTurnaroundTime 12 symbols (192 µs), unit backoff 20 symbols
 * (320 µs) with macMinBe 3 (mean ~3.5 backoff periods). MAC header with PAN id compression and
 * short addresses 9 bytes + FCS 2. RFC 6282 IPHC + compressed UDP ~10 bytes; RFC 4944 §5.3
 * FRAG1 4 / FRAGN 5 bytes (we charge 5). Imm-Ack: 5-byte PSDU + 6 PHY.
 */
export const IEEE_802154: RadioLink = {
  name: 'ieee802154',
  bitsPerSecond: 250_000,
  maxFrameBytes: 127,
  phyOverhead: 6,
  macOverhead: 11,
  firstFrameHeader: 10,
  fragmentHeader: 5,
  perFrameS: 3.5 * 320e-6 + 2 * 192e-6,
  ackBytes: 11,
  maxRetries: 3,
  latencyS: GATEWAY_LATENCY_S,
};

/**
 * IEEE 802.11-2016 OFDM PHY (Clause 17/19, 2.4 GHz) at a robust 24 Mbit/s for small frames:
 * 1500-byte MTU; MAC header 24 + QoS control 2 + FCS 4 = 30, LLC/SNAP 8; IPv4 20 + UDP 8 (RFC 791,
 * RFC 768). Per frame, derived from the Clause 17 timing: DIFS 34 µs + mean backoff CWmin/2 x 9 µs
 * slot (67.5 µs) + PLCP preamble and header 20 µs + SIFS 16 µs + ACK (14 bytes: FC 2, duration 2,
 * RA 6, FCS 4; 20 µs preamble + ~5 µs) ~ 160 µs; we take 150 µs (approx.). Retries:
 * dot11ShortRetryLimit default 7 (Annex C MIB). Latency through an access point: 5 ms, an estimate.
 */
export const WIFI: RadioLink = {
  name: 'wifi',
  bitsPerSecond: 24_000_000,
  maxFrameBytes: 1500,
  phyOverhead: 0,
  macOverhead: 38,
  firstFrameHeader: 28,
  fragmentHeader: 0,
  perFrameS: 150e-6,
  ackBytes: 14,
  maxRetries: 7,
  latencyS: 0.005,
};

/**
 * Nordic nRF24L01+ Product Specification v1.0 (§7 Enhanced ShockBurst): 250 kbps, 1 or 2 Mbps
 * (we use 2 Mbps, the rate [NRF24]'s RX current in hardware-profiles.ts is given for); a packet is
 * preamble 1 + address 5 (SETUP_AW) + packet control field 9 bits (counted as 2 bytes) + payload
 * 0-32 + CRC 2. There is no fragmentation or network layer in the chip: we charge the RF24Network
 * library's 8-byte header in every packet (it also carries the fragment type), leaving 24 payload
 * bytes. Per packet: PTX TX settling 130 µs + PRX turnaround to TX for the ACK 130 µs + PTX back
 * to RX 130 µs (tStby2a 130 µs, §6.1.7 timing table), an estimate of how they add up. ACK: a packet
 * with no payload, 10 bytes. Retries: SETUP_RETR reset value ARC = 3 (§9 register map).
 */
export const NRF24: RadioLink = {
  name: 'nrf24',
  bitsPerSecond: 2_000_000,
  maxFrameBytes: 2 + 32 + 2, // PCF + the 32-byte payload + CRC
  phyOverhead: 6, // preamble + 5-byte address
  macOverhead: 2 + 2 + 8, // PCF + CRC + RF24Network header
  firstFrameHeader: 0,
  fragmentHeader: 0,
  perFrameS: 3 * 130e-6,
  ackBytes: 10,
  maxRetries: 3,
  latencyS: GATEWAY_LATENCY_S,
};

export const RADIO_LINKS: Readonly<Record<RadioName, RadioLink>> = Object.freeze({
  ieee802154: IEEE_802154,
  wifi: WIFI,
  nrf24: NRF24,
  // BLE is not modelled separately: its small frames behave like 802.15.4's for our purposes, with
  // the LE 1M PHY's rate and framing (Bluetooth Core Specification v5.3 Vol 6 Part B §2.1: preamble
  // 1 + access address 4 + header 2 + CRC 3 = 10 bytes; data length extension: 251-byte payloads).
  ble: { ...IEEE_802154, name: 'ble', bitsPerSecond: 1_000_000, maxFrameBytes: 251, phyOverhead: 10 },
});

/** How a message of `bytes` splits into frames, and the bytes sent on air without retries. */
export function frameMessage(link: RadioLink, bytes: number): { frames: number; airBytes: number } {
  const single = link.macOverhead + link.firstFrameHeader + bytes;
  if (single <= link.maxFrameBytes) return { frames: 1, airBytes: single + link.phyOverhead };
  const firstRoom = link.maxFrameBytes - link.macOverhead - link.firstFrameHeader - link.fragmentHeader;
  const nextRoom = link.maxFrameBytes - link.macOverhead - link.fragmentHeader;
  const frames = 1 + Math.ceil(Math.max(0, bytes - firstRoom) / nextRoom);
  const airBytes = bytes + link.firstFrameHeader + frames * (link.macOverhead + link.fragmentHeader + link.phyOverhead);
  return { frames, airBytes };
}

export interface Transmission {
  delivered: boolean;
  frames: number;
  /** Frame sends including link-layer retries. */
  attempts: number;
  /** Bytes sent on air including retries (sender's TX). */
  airBytes: number;
  /** Seconds the sender's radio transmits. */
  txS: number;
  /** Seconds the sender's radio listens (for acknowledgements). */
  ackRxS: number;
  /** Seconds the receiver's radio is busy receiving. */
  rxS: number;
  /** Wall-clock seconds the whole transfer takes. */
  durationS: number;
}

/** Sends one message over `link` with frame loss probability `loss`, drawing loss from `prng`. */
export function transmit(link: RadioLink, bytes: number, loss: number, prng: Prng): Transmission {
  const { frames, airBytes } = frameMessage(link, bytes);
  const perFrameAir = airBytes / frames;
  const frameS = (perFrameAir * 8) / link.bitsPerSecond;
  const ackS = (link.ackBytes * 8) / link.bitsPerSecond;
  let attempts = 0;
  let delivered = true;
  for (let f = 0; f < frames && delivered; f++) {
    let ok = false;
    for (let t = 0; t <= link.maxRetries && !ok; t++) {
      attempts++;
      ok = !prng.chance(loss);
    }
    delivered = ok;
  }
  return {
    delivered,
    frames,
    attempts,
    airBytes: attempts * perFrameAir,
    txS: attempts * frameS,
    ackRxS: attempts * ackS,
    rxS: attempts * frameS,
    durationS: attempts * (frameS + link.perFrameS + ackS) + link.latencyS,
  };
}
