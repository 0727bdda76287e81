/** fast-check inputs for fuzzing decoders: valid seeds with a few bytes overwritten, inserted or cut. */
import fc from 'fast-check';

export function mutationsOf(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      fc.constantFrom(...seeds),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'cut')), { minLength: 1, maxLength: 4 }),
    )
    .map(([seed, edits]) => {
      let b = Array.from(seed);
      for (const [pos, byte, op] of edits) {
        const i = pos % (b.length + 1);
        if (op === 'set' && b.length > 0) b[i % b.length] = byte;
        else if (op === 'insert') b.splice(i, 0, byte);
        else b = b.slice(0, i);
      }
      return Uint8Array.from(b);
    });
}
