/**
 * Reading an HTTP answer from the service with a size bound that holds even when the answer
 * declares no length (chunked): Response.arrayBuffer() would buffer whatever arrives until the
 * timeout. Used for revocation lists and introspection answers (broker/) and the device host's
 * broker-token answers.
 */
export class BodyTooLarge extends Error {
  constructor() {
    super('answer too large');
    this.name = 'BodyTooLarge';
  }
}

/** The body, read chunk by chunk and abandoned past `max`: a chunked answer declares no length. */
export async function readBoundedBody(res: Response, max: number): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel();
      throw new BodyTooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) (out.set(c, at), (at += c.length));
  return out;
}
