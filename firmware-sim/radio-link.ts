/**
 * Radio links: how long a message takes on air, how many frames and bytes it needs, whether it
 * gets through, and how long each side's radio is on doing it. A message larger than one frame is
 * fragmented, and every fragment pays the frame overhead, the CSMA backoff and CCA, the
 * turnarounds and the acknowledgement again. All of that fixed time is radio-on time and is
 * charged (at RX current while listening or backing off, at TX current while settling to send),
 * not only the bytes: for short frames it is a large part of the energy (issue 16). Every number
 * is a Figure (model-sources.ts).
 */
import type { Prng } from './prng.js';
import type { RadioName } from './hardware-profiles.js';
import { est, fig, valuesOf, type Figure } from './model-sources.js';

interface LinkNumbers {
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
  /** Sender listening before each frame: mean CSMA backoff plus CCA, seconds (RX current). */
  backoffS: number;
  /** Turnaround/settling before sending a frame or an ACK, seconds (TX current). */
  txSetupS: number;
  /** Sender's turnaround to receive the ACK, seconds (RX current). */
  ackTurnS: number;
  /** Acknowledgement frame bytes on air. */
  ackBytes: number;
  /** Link-layer retries before a frame is given up (the message is then lost). */
  maxRetries: number;
  /** One-way latency through the gateway and broker, seconds. */
  latencyS: number;
}

export interface RadioLink extends LinkNumbers {
  name: RadioName;
  figures: Readonly<Record<keyof LinkNumbers, Figure>>;
}

function link(name: RadioName, figures: Record<keyof LinkNumbers, Figure>): RadioLink {
  return Object.freeze({ name, ...valuesOf(figures), figures: Object.freeze(figures) });
}

const GATEWAY_LATENCY = est(0.02, 'a few ms of forwarding at the border router plus broker queueing; not a measurement');

/**
 * IEEE 802.15.4-2015 2.4 GHz O-QPSK. The receiver is kept on through the backoff (drivers do CCA
 * at the end of it without a second start-up), so the backoff is charged at RX current.
 */
export const IEEE_802154: RadioLink = link('ieee802154', {
  bitsPerSecond: fig(250_000, 'IEEE802154', 'O-QPSK PHY at 2.4 GHz: 250 kbit/s (16 µs/symbol, 4 bits/symbol)'),
  maxFrameBytes: fig(127, 'IEEE802154', 'PHY constants: aMaxPhyPacketSize 127'),
  phyOverhead: fig(6, 'IEEE802154', 'SHR (preamble 4 + SFD 1) + PHR 1'),
  macOverhead: fig(11, 'IEEE802154', 'MAC header with PAN id compression and short addresses 9 + FCS 2'),
  firstFrameHeader: fig(10, 'RFC4944', 'RFC 6282 IPHC + compressed UDP header, ~10 bytes'),
  fragmentHeader: fig(5, 'RFC4944', '§5.3: FRAG1 4 / FRAGN 5 bytes (we charge 5)'),
  backoffS: fig(3.5 * 320e-6 + 128e-6, 'IEEE802154', 'MAC PIB attributes: macMinBe default 3: mean 3.5 unit backoff periods of 20 symbols (320 µs), plus CCA over 8 symbols (128 µs)'),
  txSetupS: fig(192e-6, 'IEEE802154', 'PHY constants: aTurnaroundTime 12 symbols = 192 µs (RX to TX before the frame; the receiver\'s before its ACK)'),
  ackTurnS: fig(192e-6, 'IEEE802154', 'aTurnaroundTime: the ACK starts 12 symbols after the frame; the sender listens through it'),
  ackBytes: fig(11, 'IEEE802154', 'Imm-Ack: 5-byte PSDU + 6 bytes SHR/PHR'),
  maxRetries: fig(3, 'IEEE802154', 'MAC PIB attributes: macMaxFrameRetries default 3'),
  latencyS: GATEWAY_LATENCY,
});

/**
 * IEEE 802.11-2016 OFDM PHY at a robust 24 Mbit/s for small frames; 1500-byte MTU; MAC header
 * 24 + QoS 2 + FCS 4 + LLC/SNAP 8 = 38; IPv4 20 + UDP 8 (RFC 791, RFC 768).
 */
export const WIFI: RadioLink = link('wifi', {
  bitsPerSecond: fig(24_000_000, 'IEEE80211', 'Clause 17: 24 Mbit/s (16-QAM 1/2), a robust rate for small frames'),
  maxFrameBytes: fig(1500, 'IEEE80211', 'MSDU of an IP MTU of 1500 bytes'),
  phyOverhead: fig(0, 'IEEE80211', 'the PLCP preamble is charged as time (txSetupS), not bytes'),
  macOverhead: fig(38, 'IEEE80211', 'MAC header 24 + QoS control 2 + FCS 4 + LLC/SNAP 8'),
  firstFrameHeader: fig(28, 'IEEE80211', 'IPv4 20 + UDP 8 (RFC 791, RFC 768)'),
  fragmentHeader: fig(0, 'IEEE80211', 'IP messages up to the MTU are not fragmented'),
  backoffS: fig(34e-6 + 7.5 * 9e-6, 'IEEE80211', 'DIFS 34 µs + mean backoff CWmin/2 = 7.5 slots of 9 µs'),
  txSetupS: fig(20e-6, 'IEEE80211', 'Clause 17: preamble + SIGNAL 20 µs before every frame'),
  ackTurnS: fig(16e-6 + 20e-6, 'IEEE80211', 'SIFS 16 µs + the ACK\'s own 20 µs preamble, listened to'),
  ackBytes: fig(14, 'IEEE80211', 'ACK: frame control 2, duration 2, RA 6, FCS 4'),
  maxRetries: fig(7, 'IEEE80211', 'Annex C: dot11ShortRetryLimit default 7'),
  latencyS: est(0.005, 'forwarding through an access point and the broker: an estimate'),
});

/**
 * Nordic nRF24L01+ Enhanced ShockBurst at 2 Mbit/s (the rate [NRF24]'s RX current is given for).
 * There is no fragmentation or network layer in the chip: we charge the RF24Network library's
 * 8-byte header in every packet (it also carries the fragment type), leaving 24 payload bytes.
 * Every packet pays 130 µs of TX settling and the ACK 130 µs of RX settling, charged at the TX/RX
 * currents (the PS gives lower settling currents: a small overestimate).
 */
export const NRF24: RadioLink = link('nrf24', {
  bitsPerSecond: fig(2_000_000, 'NRF24', 'Air data rate: 2 Mbit/s'),
  maxFrameBytes: fig(2 + 32 + 2, 'NRF24', 'Enhanced ShockBurst packet format: packet control field (9 bits, counted 2) + payload up to 32 + CRC 2'),
  phyOverhead: fig(6, 'NRF24', 'Enhanced ShockBurst packet format: preamble 1 + address 5 (SETUP_AW)'),
  macOverhead: fig(2 + 2 + 8, 'NRF24', 'packet control 2 + CRC 2 + RF24Network header 8 (library framing)'),
  firstFrameHeader: fig(0, 'NRF24', 'no network header beyond RF24Network\'s, counted per packet'),
  fragmentHeader: fig(0, 'NRF24', 'the fragment type rides in the RF24Network header'),
  backoffS: fig(0, 'NRF24', 'Enhanced ShockBurst sends without carrier sense'),
  txSetupS: fig(130e-6, 'NRF24', 'Timing information: tStby2a TX settling 130 µs (also the receiver\'s, before its ACK)'),
  ackTurnS: fig(130e-6, 'NRF24', 'Timing information: RX settling 130 µs before the ACK can be received'),
  ackBytes: fig(10, 'NRF24', 'Enhanced ShockBurst packet format: an ACK is a packet with no payload: 1 + 5 + 2 + 2'),
  maxRetries: fig(3, 'NRF24', 'Register map: SETUP_RETR reset value ARC = 3'),
  latencyS: GATEWAY_LATENCY,
});

/** BLE LE 1M (Bluetooth Core v5.3 Vol 6 Part B §2.1), with data length extension; no part uses it yet. */
const BLE: RadioLink = link('ble', {
  ...IEEE_802154.figures,
  bitsPerSecond: fig(1_000_000, 'BT53', 'LE 1M PHY'),
  maxFrameBytes: fig(251, 'BT53', 'data length extension: 251-byte payloads'),
  phyOverhead: fig(10, 'BT53', 'preamble 1 + access address 4 + header 2 + CRC 3'),
  backoffS: fig(0, 'BT53', 'connection events are scheduled: no CSMA'),
  txSetupS: fig(150e-6, 'BT53', 'T_IFS 150 µs between packets'),
  ackTurnS: fig(150e-6, 'BT53', 'T_IFS 150 µs before the peer\'s packet'),
  ackBytes: fig(10, 'BT53', 'an empty PDU: 1 + 4 + 2 + 3'),
});

export const RADIO_LINKS: Readonly<Record<RadioName, RadioLink>> = Object.freeze({ ieee802154: IEEE_802154, wifi: WIFI, nrf24: NRF24, ble: BLE });

/** A wake-up poll: a tiny MQTT-SN-style PINGREQ (MQTT-SN v1.2 PINGREQ: length 1 + message type 1, no client id) that makes the broker flush the device's queue. */
export const POLL_BYTES = 2;

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
  /** Seconds the sender's radio is at TX current: settling and the frames. */
  txS: number;
  /** Seconds the sender's radio is at RX current: backoff and CCA, turnaround, the ACKs. */
  ackRxS: number;
  /** Seconds the receiver's radio receives the frames. */
  rxS: number;
  /** Seconds the receiver's radio is at TX current: turnaround and its ACKs. */
  ackTxS: number;
  /** Wall-clock seconds the whole transfer takes. */
  durationS: number;
}

/** One frame attempt's radio-on times on each side. */
export function frameTimes(link: RadioLink, frameAirBytes: number): { senderTxS: number; senderRxS: number; receiverRxS: number; receiverTxS: number; durationS: number } {
  const frameS = (frameAirBytes * 8) / link.bitsPerSecond;
  const ackS = (link.ackBytes * 8) / link.bitsPerSecond;
  return {
    senderTxS: link.txSetupS + frameS,
    senderRxS: link.backoffS + link.ackTurnS + ackS,
    receiverRxS: frameS,
    receiverTxS: link.txSetupS + ackS,
    durationS: link.backoffS + link.txSetupS + frameS + link.ackTurnS + ackS,
  };
}

/** Sends one message over `link` with frame loss probability `loss`, drawing loss from `prng`. */
export function transmit(link: RadioLink, bytes: number, loss: number, prng: Prng): Transmission {
  const { frames, airBytes } = frameMessage(link, bytes);
  const perFrameAir = airBytes / frames;
  const t = frameTimes(link, perFrameAir);
  let attempts = 0;
  let delivered = true;
  for (let f = 0; f < frames && delivered; f++) {
    let ok = false;
    for (let r = 0; r <= link.maxRetries && !ok; r++) {
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
    txS: attempts * t.senderTxS,
    ackRxS: attempts * t.senderRxS,
    rxS: attempts * t.receiverRxS,
    ackTxS: attempts * t.receiverTxS,
    durationS: attempts * t.durationS + link.latencyS,
  };
}
