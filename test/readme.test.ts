/** Every TypeScript example in the README runs as written (STYLE.md rule 15). */
import { describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe('README examples', () => {
  it('has at least one TypeScript example', () => expect(examples.length).toBeGreaterThan(0));

  examples.forEach((code, i) => {
    it(`example ${i + 1} runs`, async () => {
      const dir = join(root, 'test', '.readme');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `example-${i + 1}.ts`);
      writeFileSync(file, code);
      const logged: unknown[][] = [];
      const log = console.log;
      console.log = (...args: unknown[]) => void logged.push(args);
      try {
        await import(file);
      } finally {
        console.log = log;
      }
      expect(logged.length).toBeGreaterThan(0);
      // A `console.log(...); // value` line in the README promises what it prints: hold it to that.
      const promised = [...code.matchAll(/^console\.log\(.*\); \/\/ (.+)$/gm)].map((m) => m[1]!.trim());
      const printed = logged.map((args) => args.map(String).join(' '));
      const expected = code.split('\n').filter((l) => l.startsWith('console.log(')).map((l) => {
        const m = /; \/\/ (.+)$/.exec(l);
        return m ? m[1]!.trim() : undefined;
      });
      expected.forEach((want, k) => {
        if (want !== undefined) expect(printed[k], `README example ${i + 1}, console.log #${k + 1}`).toBe(want);
      });
      expect(promised.length).toBeLessThanOrEqual(printed.length);
    });
  });
});
