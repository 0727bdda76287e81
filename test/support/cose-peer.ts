/**
 * The independent COSE peer (test/interop/cose_peer.py): Debian's python3 with cbor2 and
 * python3-cryptography (OpenSSL), sharing no code with keybound. One JSON request, one answer.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const PEER = fileURLToPath(new URL('../interop/cose_peer.py', import.meta.url));
const PYTHON = '/usr/bin/python3';

// The peer needs Debian's python3 with cbor2 and cryptography (.ci/run installs them).
export const cosePeerAvailable =
  existsSync(PYTHON) &&
  (() => {
    try {
      execFileSync(PYTHON, ['-c', 'import cbor2, cryptography'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
if (!cosePeerAvailable && process.env.CI) throw new Error('interop peer missing: apt-get install python3-cbor2 python3-cryptography');

export function cosePeer(request: object): any {
  return JSON.parse(execFileSync(PYTHON, [PEER], { input: JSON.stringify(request), encoding: 'utf8', timeout: 20_000 }));
}
