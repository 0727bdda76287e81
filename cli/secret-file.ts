/** Secrets come from files, never argv: argv is visible to every user of the machine. */
import { readFileSync } from 'node:fs';

export function readSecretFile(file: string): string {
  return readFileSync(file, 'utf8').trim();
}

export function readBytesFile(file: string): Uint8Array {
  return new Uint8Array(readFileSync(file));
}
