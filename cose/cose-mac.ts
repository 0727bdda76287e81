/** COSE_Mac (RFC 9052 §6.1) with a direct-key recipient, read for interoperability. */
import type { CborValue } from './cbor-value.js';
import { parseHeaders } from './headers.js';
import { coseArray, expectBytes } from './message.js';
import { checkAllowed, providerOf, resolveKey, type KeyInput } from './key-input.js';
import { payloadOf, type VerifiedMessage, type VerifySign1Options } from './sign1.js';
import { checkTag, macStructure } from './mac0.js';
import { directRecipientKid, withRecipientKid } from './recipients.js';

const EMPTY = /* @__PURE__ */ new Uint8Array(0);

export function verifyCoseMac(input: Uint8Array | CborValue, key: KeyInput, opts: VerifySign1Options = {}): VerifiedMessage {
  const [protectedValue, unprotected, payloadValue, tagValue, recipients] = coseArray(input, 'Mac', opts.limits);
  const headers = withRecipientKid(parseHeaders(protectedValue, unprotected), directRecipientKid(recipients));
  checkAllowed(headers.alg, opts.algorithms);
  const coseKey = resolveKey(key, headers, 'mac', 'MAC verify');
  const payload = payloadOf(payloadValue, opts.detachedPayload);
  const tbm = macStructure('MAC', headers.protectedBytes, opts.externalAad ?? EMPTY, payload);
  checkTag(headers.alg, coseKey, tbm, expectBytes(tagValue, 'tag'), providerOf(opts));
  return { payload, headers };
}
