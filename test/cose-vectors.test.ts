/**
 * Every COSE WG example for the algorithms keybound speaks, through both crypto providers:
 * each verifies or decrypts to its plaintext, each "fail" example is refused, and where the
 * algorithm is deterministic, re-creating it from its inputs gives the exact bytes.
 */
import { describe, expect, it } from 'vitest';
import {
  createEncrypt0,
  createMac0,
  createSign1,
  decodeCbor,
  encodeCbor,
  decryptCoseEncrypt,
  decryptEncrypt0,
  fromHex,
  nonceFromPartialIv,
  extendedPortableProvider,
  Tag,
  toHex,
  verifyCoseMac,
  verifyCoseSign,
  verifyMac0,
  verifySign1,
  type CborMap,
  type CborValue,
  type CryptoProvider,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { plaintextOf, vectorFiles, vectorKey, VECTOR_ALG } from './support/vectors.js';

// Ed448, P-384 and P-521 examples need the extended portable provider; the default one is lean.
const providers: CryptoProvider[] = [extendedPortableProvider, nativeProvider];
const folders = ['eddsa-examples', 'ecdsa-examples', 'hmac-examples', 'aes-ccm-examples', 'aes-gcm-examples', 'chacha-poly-examples'];

function parts(cbor: Uint8Array): { prot: CborMap; unprot: CborMap; arr: any[] } {
  const v = decodeCbor(cbor) as Tag;
  const arr = v.value as any[];
  const prot = arr[0].length === 0 ? new Map() : (decodeCbor(arr[0]) as CborMap);
  return { prot, unprot: arr[1] as CborMap, arr };
}

const FAILURE_CODES = ['ERR_COSE_BAD_SIGNATURE', 'ERR_COSE_BAD_MAC', 'ERR_COSE_DECRYPT_FAILED'];

for (const provider of providers) {
  describe(`COSE WG examples through the ${provider.name} provider`, () => {
    for (const folder of folders) {
      for (const { file, json } of vectorFiles(folder)) {
        const input = json.input;
        const output = fromHex(json.output.cbor);
        const plaintext = plaintextOf(input);
        const shouldFail = json.fail === true;

        it(`${file}: ${shouldFail ? 'is refused' : 'verifies to its plaintext'}`, () => {
          const run = (): Uint8Array => {
            if (input.sign0) return verifySign1(output, vectorKey(input.sign0.key), { provider }).payload;
            if (input.sign) return verifyCoseSign(output, vectorKey(input.sign.signers[0].key), { provider }).payload;
            if (input.mac0) return verifyMac0(output, vectorKey(input.mac0.recipients[0].key), { provider }).payload;
            if (input.mac) return verifyCoseMac(output, vectorKey(input.mac.recipients[0].key), { provider }).payload;
            if (input.encrypted) return decryptEncrypt0(output, vectorKey(input.encrypted.recipients[0].key), { provider }).plaintext;
            const env = input.enveloped;
            const opts: { provider: CryptoProvider; baseIv?: Uint8Array } = { provider };
            if (env.unprotected?.partialIV_hex) {
              // The file gives the full IV; the base IV is it with the Partial IV folded back out.
              const iv = fromHex(env.unsent.IV_hex);
              opts.baseIv = nonceFromPartialIv(iv, fromHex(env.unprotected.partialIV_hex), iv.length);
            }
            return decryptCoseEncrypt(output, vectorKey(env.recipients[0].key), opts).plaintext;
          };
          if (shouldFail) {
            expect(run).toThrow(expect.objectContaining({ code: expect.toBeOneOf(FAILURE_CODES) }));
          } else {
            expect(toHex(run())).toBe(toHex(plaintext));
          }
        });

        const deterministic =
          !shouldFail &&
          ((input.sign0 && input.sign0.alg === 'EdDSA') || input.mac0 || input.encrypted);
        if (deterministic) {
          it(`${file}: re-created from its inputs gives the exact bytes`, () => {
            const { prot, unprot, arr } = parts(output);
            const extra = { protected: prot, unprotected: unprot, provider };
            let bytes: Uint8Array;
            if (input.sign0) {
              bytes = createSign1(plaintext, vectorKey(input.sign0.key), { ...extra, alg: VECTOR_ALG[input.sign0.alg] });
            } else if (input.mac0) {
              bytes = createMac0(plaintext, vectorKey(input.mac0.recipients[0].key), { ...extra, alg: VECTOR_ALG[input.mac0.alg ?? input.mac0.protected.alg] });
            } else {
              const iv = unprot.get(5) as Uint8Array;
              const rest = new Map(unprot);
              rest.delete(5);
              bytes = createEncrypt0(plaintext, vectorKey(input.encrypted.recipients[0].key), {
                ...extra,
                unprotected: rest,
                iv,
                alg: prot.get(1) as number,
              });
            }
            expect(arr).toBeDefined();
            expect(toHex(bytes)).toBe(toHex(output));
          });
        }
      }
    }
  });
}

describe('crit(2) outside a signer: in a COSE_Sign body and in a recipient (RFC 9052 §3.1)', () => {
  const critical = () => encodeCbor(new Map<CborValue, CborValue>([[2, [99]], [99, 1]]));
  const errorOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return (e as { code?: string }).code;
    }
    return 'accepted';
  };

  it('eddsa-01 with an unknown crit label in the body is refused for it, not for the signature', () => {
    const { json } = vectorFiles('eddsa-examples').find((v) => v.file.endsWith('eddsa-01.json'))!;
    const key = vectorKey(json.input.sign.signers[0].key);
    const v = decodeCbor(fromHex(json.output.cbor)) as Tag;
    const arr = (v.value as CborValue[]).slice();
    expect(errorOf(() => verifyCoseSign(encodeCbor(new Tag(arr, 98)), key))).toBe('accepted');
    arr[0] = critical();
    expect(errorOf(() => verifyCoseSign(encodeCbor(new Tag(arr, 98)), key))).toBe('ERR_COSE_UNKNOWN_CRIT');
  });

  it('aes-gcm-01 with an unknown crit label in its recipient is refused for it', () => {
    const { json } = vectorFiles('aes-gcm-examples').find((v) => v.file.endsWith('aes-gcm-01.json'))!;
    const key = vectorKey(json.input.enveloped.recipients[0].key);
    const v = decodeCbor(fromHex(json.output.cbor)) as Tag;
    const arr = (v.value as CborValue[]).slice();
    const recipient = ((arr[3] as CborValue[])[0] as CborValue[]).slice();
    recipient[0] = critical();
    arr[3] = [recipient];
    expect(errorOf(() => decryptCoseEncrypt(encodeCbor(new Tag(arr, 96)), key))).toBe('ERR_COSE_UNKNOWN_CRIT');
  });
});
