/**
 * The independent CoAP/OSCORE peer: libcoap 4.3.5 built from ../shared/peers/ by
 * .ci/build-libcoap.sh into ~/.cache/keybound-peers/libcoap (KEYBOUND_PEERS_DIR overrides).
 * Outside CI a missing build skips the tests that need it, with the command that builds it;
 * in CI (CI=true) it is a failure: .ci/run builds it.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface LibcoapPeer {
  /** Path of coap-client (takes -E oscore.conf[,seq_file]). */
  client: string;
  /** Path of coap-server (takes -E oscore.conf[,seq_file]; serves /time among others). */
  server: string;
  /** Path of oscore-interop-server (the RFC 8613 interop test resources). */
  interopServer: string;
  /** The unpacked sources (examples/interop/*.conf, man/coap-oscore-conf.txt.in). */
  sourceDir: string;
}

function buildDir(): string {
  return join(process.env.KEYBOUND_PEERS_DIR ?? join(homedir(), '.cache', 'keybound-peers'), 'libcoap');
}

/** The built peer, or undefined when it is not built (outside CI only). */
export function findLibcoap(): LibcoapPeer | undefined {
  const dir = buildDir();
  const peer: LibcoapPeer = {
    client: join(dir, 'build', 'coap-client'),
    server: join(dir, 'build', 'coap-server'),
    interopServer: join(dir, 'build', 'oscore-interop-server'),
    sourceDir: join(dir, 'libcoap-4.3.5'),
  };
  if (existsSync(peer.client) && existsSync(peer.server)) return peer;
  if (process.env.CI === 'true') throw new Error(`libcoap peer not built in ${dir}: CI must build it (bash .ci/build-libcoap.sh)`);
  return undefined;
}

/** Why the libcoap tests are skipped here, for `describe.skipIf(...)` messages. */
export const LIBCOAP_MISSING = 'libcoap 4.3.5 with OSCORE not built: run `bash .ci/build-libcoap.sh` (needs cmake build-essential libssl-dev pkg-config)';
