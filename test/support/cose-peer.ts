/**
 * The independent COSE peer (test/interop/cose_peer.py): Debian's python3 with cbor2 and
 * python3-cryptography (OpenSSL), sharing no code with keybound. One JSON request, one answer.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PYTHON, pythonHas } from './python-peer.js';

const PEER = fileURLToPath(new URL('../interop/cose_peer.py', import.meta.url));

export const cosePeerAvailable = pythonHas(['cbor2', 'cryptography'], 'python3-cbor2 python3-cryptography');

export function cosePeer(request: object): any {
  return JSON.parse(execFileSync(PYTHON, [PEER], { input: JSON.stringify(request), encoding: 'utf8', timeout: 20_000 }));
}
