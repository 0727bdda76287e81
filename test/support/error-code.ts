/** The stable `code` of what `fn` throws, or 'no error': tests compare codes, never messages. */
export function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? `untyped: ${String(e)}`;
  }
  return 'no error';
}
