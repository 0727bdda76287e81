/** COSE_Encrypt (RFC 9052 §5.1) with a direct-key recipient, read for interoperability. */
import { CoseFormatError, ERR } from './errors.js';
import type { CborValue } from './cbor-value.js';
import { parseHeaders } from './headers.js';
import { coseArray, expectBytes } from './message.js';
import { checkAllowed, resolveKey, type KeyInput } from './key-input.js';
import { openCiphertext, type DecryptedMessage, type DecryptOptions } from './encrypt0.js';
import { directRecipientKid, withRecipientKid } from './recipients.js';

export function decryptCoseEncrypt(input: Uint8Array | CborValue, key: KeyInput, opts: DecryptOptions = {}): DecryptedMessage {
  const [protectedValue, unprotected, ciphertextValue, recipients] = coseArray(input, 'Encrypt', opts.limits);
  const headers = withRecipientKid(parseHeaders(protectedValue, unprotected), directRecipientKid(recipients));
  checkAllowed(headers.alg, opts.algorithms);
  const coseKey = resolveKey(key, headers, 'aead', 'decrypt');
  if (ciphertextValue === null) throw new CoseFormatError(ERR.COSE_DETACHED_PAYLOAD, 'detached ciphertext is not supported');
  const plaintext = openCiphertext(headers, coseKey, 'Encrypt', expectBytes(ciphertextValue, 'ciphertext'), opts);
  return { plaintext, headers };
}
