/**
 * The thread side of admission-threads.ts: checks a CONNECT's token and proof with the broker's
 * own code (admission.ts createCredentialCheck, token-verifier.ts, the device acceptance rules)
 * against the trust the broker was configured with, and answers what it proved. It spends and
 * charges nothing and knows no revocation: the event loop re-checks what only it knows
 * (token-verifier.ts stillAccepts), claims the jti and takes the allowances. Anything refused
 * here is answered "not checked" and decided again on the loop, with its exact refusal.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { nativeProvider } from '../cose/adapters/index.js';
import { createCredentialCheck } from './admission.js';
import { createTokenVerifier } from './token-verifier.js';
import { brokerTrust } from './trust.js';
import { READY, type AdmissionThreadData, type AdmissionThreadReply, type AdmissionThreadRequest } from './admission-threads.js';

const data = workerData as AdmissionThreadData;
// The wall clock, as the loop's own (admission-threads.ts is refused with an injected clock).
const clock = () => Date.now() / 1000;
const trust = brokerTrust(data.trust, { audience: data.audience, now: clock() });
const verifier = createTokenVerifier({
  audience: data.audience,
  trust,
  clock,
  provider: nativeProvider,
  ...(data.leeway !== undefined ? { leeway: data.leeway } : {}),
  // Revocation is the loop's to know (stillAccepts); a reference token is introspected there.
  isRevoked: () => false,
});
// Signatures in line: this thread is the one taken off the loop.
const check = createCredentialCheck({ audience: data.audience, verifier, clock, provider: nativeProvider, ...(data.iatWindow !== undefined ? { iatWindow: data.iatWindow } : {}) });

const port = parentPort!;
/** Replies of this turn, posted together (admission-threads.ts batches the same way). */
let outbox: AdmissionThreadReply[] = [];
const send = (reply: AdmissionThreadReply): void => {
  if (outbox.push(reply) > 1) return;
  // Signatures are checked in line, so a batch's answers are all ready within this turn.
  setImmediate(() => {
    const batch = outbox;
    outbox = [];
    try {
      port.postMessage(batch);
    } catch {
      // One answer the structured clone refuses (a claim it cannot copy): the loop decides each.
      port.postMessage(batch.map(({ id }) => ({ id, checked: undefined })) satisfies AdmissionThreadReply[]);
    }
  });
};
port.on('message', (requests: AdmissionThreadRequest[]) => {
  for (const request of requests) {
    check(request.clientId, request.password, request.purpose).then(
      // Claims the broker does not read stay here: the loop takes messagePop, worked out from them.
      (checked) => send({ id: request.id, checked: { ...checked, verified: { ...checked.verified, other: undefined } } }),
      () => send({ id: request.id, checked: undefined }),
    );
  }
});
port.postMessage(READY);
