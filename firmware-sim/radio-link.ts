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
  latencyS: 0.02,
};

/**
 * IEEE 802.11n at a robust 24 Mbit/s for small frames: ~1500-byte MTU; MAC 30 + LLC 8 + IPv4 20 +
 * UDP 8 bytes; DIFS + mean backoff + PLCP preamble + SIFS + ACK ~ 150 µs per frame.
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

export const RADIO_LINKS: Readonly<Record<RadioName, RadioLink>> = Object.freeze({
  ieee802154: IEEE_802154,
  wifi: WIFI,
  // BLE is not modelled separately: its small frames behave like 802.15.4's for our purposes.
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
