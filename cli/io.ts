/** Where a command writes. Tests pass string collectors; the launcher passes process.stdout/stderr. */
export interface CliIo {
  /** Bytes only where a command's output is binary (keybound request's CBOR answers). */
  stdout: { write(text: string | Uint8Array): unknown };
  stderr: { write(text: string): unknown };
}

/** Exit codes: 0 done, 1 the input or a check failed, 2 the command line was wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;
