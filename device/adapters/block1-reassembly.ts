/**
 * Block1 reassembly (RFC 7959 §2.5) for the CoAP transport, keyed on what identifies a request
 * body rather than on the CoAP token: RFC 7959 §2.4 lets a client use a new token for each
 * block (libcoap does), so node-coap's own reassembly, which keys on the token, loses the body
 * (and it is unbounded: a block number alone makes it allocate). Here a body is identified by the
 * peer's address and port, the method and the options that name the target (Uri-*, Content-Format,
 * the OSCORE option: RFC 8613 §4.1.3.4.2 outer block-wise carries it on every block).
 *
 * Everything is bounded: the body size (4.13 with Size1, RFC 7959 §2.9.3), the reassemblies in
 * progress overall and per peer (the oldest is dropped), and their age. Blocks must come in order:
 * a block that does not continue the body gets 4.08 Request Entity Incomplete (§2.9.2), a middle
 * block of the wrong size 4.00. A retransmitted block (the same one again) is acknowledged again.
 * Clock injected so tests need not wait.
 */

/** A parsed Block1/Block2 option value (RFC 7959 §2.2). */
export interface BlockOption {
  num: number;
  more: boolean;
  /** SZX: the block size is 2^(szx+4). */
  szx: number;
}

/** RFC 7959 §2.2: 0 to 3 bytes, NUM | M | SZX; SZX 7 is reserved (a 4.00). */
export function parseBlockOption(value: Uint8Array): BlockOption | undefined {
  if (value.length > 3) return undefined;
  let n = 0;
  for (const b of value) n = n * 256 + b;
  const szx = n & 7;
  if (szx === 7) return undefined;
  return { num: n >>> 4, more: (n & 8) !== 0, szx };
}

export function encodeBlockOption(block: BlockOption): Uint8Array {
  const n = block.num * 16 + (block.more ? 8 : 0) + block.szx;
  if (n === 0) return new Uint8Array(0); // RFC 7252 §3.2: uint options drop leading zero bytes
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return Uint8Array.from(out);
}

export const blockSize = (szx: number): number => 2 ** (szx + 4);

export interface Block1Limits {
  /** The largest body reassembled (bytes). */
  maxBodyBytes: number;
  /** Reassemblies in progress over all peers. */
  maxReassemblies: number;
  /** Reassemblies in progress for one peer (its address, whatever the port). */
  maxPerPeer: number;
  /** A reassembly with no block for this long is dropped (ms). */
  timeoutMs: number;
  /** The largest SZX asked of clients (6: 1024-byte blocks). */
  maxSzx: number;
}

export const DEFAULT_BLOCK1_LIMITS: Block1Limits = {
  maxBodyBytes: 16 * 1024,
  maxReassemblies: 64,
  maxPerPeer: 4,
  // RFC 7959 §2.5 leaves it to the server; well under EXCHANGE_LIFETIME (247 s) so a flood ages out.
  timeoutMs: 30_000,
  maxSzx: 6,
};

/** What to do with one Block1 request. */
export type Block1Outcome =
  /** 2.31 Continue, echoing this Block1 value (RFC 7959 §2.3). */
  | { kind: 'continue'; block1: BlockOption }
  /** The body is complete: hand it to the resource and echo `block1` in the answer. */
  | { kind: 'complete'; body: Uint8Array; block1: BlockOption }
  /** Refuse with this CoAP code (4.00, 4.08, 4.13); `size1` goes with 4.13. */
  | { kind: 'refuse'; code: '4.00' | '4.08' | '4.13'; reason: string; size1?: number };

interface Reassembly {
  peer: string;
  chunks: Uint8Array[];
  received: number;
  /** The last block taken (num, its byte offset and size), to recognize a retransmission. */
  lastOffset: number;
  lastLength: number;
  lastBlock: BlockOption;
  touched: number;
}

export interface Block1Reassembler {
  /** One block of a body; `key` identifies the body (block1Key), `peer` the sender. */
  take(peer: string, key: string, block: BlockOption, payload: Uint8Array, size1: number | undefined): Block1Outcome;
  /** Reassemblies in progress (for tests and the log). */
  readonly size: number;
  /** Drops what timed out. */
  sweep(): void;
}

export function createBlock1Reassembler(limits: Block1Limits, clock: () => number): Block1Reassembler {
  // Map keeps insertion order: the first entries are the oldest started.
  const bodies = new Map<string, Reassembly>();
  const perPeer = new Map<string, number>();

  const drop = (key: string) => {
    const r = bodies.get(key);
    if (!r) return;
    bodies.delete(key);
    const n = (perPeer.get(r.peer) ?? 1) - 1;
    if (n <= 0) perPeer.delete(r.peer);
    else perPeer.set(r.peer, n);
  };

  const sweep = () => {
    const now = clock();
    for (const [key, r] of bodies) if (now - r.touched > limits.timeoutMs) drop(key);
  };

  const oldestOf = (peer: string | undefined): string | undefined => {
    for (const [key, r] of bodies) if (peer === undefined || r.peer === peer) return key;
    return undefined;
  };

  const concat = (r: Reassembly): Uint8Array => {
    const out = new Uint8Array(r.received);
    let at = 0;
    for (const c of r.chunks) (out.set(c, at), (at += c.length));
    return out;
  };

  const tooLarge = (): Block1Outcome => ({ kind: 'refuse', code: '4.13', reason: 'body too large', size1: limits.maxBodyBytes });

  return {
    get size() {
      return bodies.size;
    },
    sweep,
    take(peer, key, block, payload, size1) {
      sweep();
      const size = blockSize(block.szx);
      // RFC 7959 §2.3: every block but the last carries exactly the block size.
      if (block.more && payload.length !== size) return { kind: 'refuse', code: '4.00', reason: 'a middle block must fill its size' };
      if (payload.length > size) return { kind: 'refuse', code: '4.00', reason: 'a block larger than its size' };
      const offset = block.num * size;
      // RFC 7959 §4: Size1 announces the whole body; refuse early rather than after reassembly.
      if ((size1 !== undefined && size1 > limits.maxBodyBytes) || offset + payload.length > limits.maxBodyBytes) {
        drop(key);
        return tooLarge();
      }
      // The answer's Block1 may ask for smaller blocks next time (RFC 7959 §2.5: the server's SZX).
      const echo = (): BlockOption => ({ num: block.num, more: block.more, szx: Math.min(block.szx, limits.maxSzx) });
      let r = bodies.get(key);
      if (block.num === 0) {
        if (r && r.lastOffset === 0 && r.lastLength === payload.length && r.chunks.length === 1 && block.more) {
          r.touched = clock(); // a retransmitted first block
          return { kind: 'continue', block1: echo() };
        }
        drop(key);
        if (!block.more) return { kind: 'complete', body: payload, block1: echo() };
        // Room for a new body: the peer's oldest goes first, then the oldest overall.
        if ((perPeer.get(peer) ?? 0) >= limits.maxPerPeer) drop(oldestOf(peer)!);
        if (bodies.size >= limits.maxReassemblies) drop(oldestOf(undefined)!);
        r = { peer, chunks: [], received: 0, lastOffset: 0, lastLength: 0, lastBlock: block, touched: clock() };
        bodies.set(key, r);
        perPeer.set(peer, (perPeer.get(peer) ?? 0) + 1);
      } else {
        if (!r) return { kind: 'refuse', code: '4.08', reason: 'no body in progress' };
        if (offset === r.lastOffset && payload.length === r.lastLength && block.num === r.lastBlock.num) {
          r.touched = clock(); // a retransmission of the block just taken: acknowledge it again
          return block.more ? { kind: 'continue', block1: echo() } : { kind: 'refuse', code: '4.08', reason: 'body already complete' };
        }
        if (offset !== r.received) {
          drop(key);
          return { kind: 'refuse', code: '4.08', reason: 'block out of order' };
        }
      }
      r.chunks.push(payload);
      r.received += payload.length;
      r.lastOffset = offset;
      r.lastLength = payload.length;
      r.lastBlock = block;
      r.touched = clock();
      if (block.more) return { kind: 'continue', block1: echo() };
      const body = concat(r);
      drop(key);
      return { kind: 'complete', body, block1: echo() };
    },
  };
}
