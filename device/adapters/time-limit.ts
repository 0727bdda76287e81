/**
 * A wait with an end: a peer that stops answering (a broker's SUBACK, a Redis write's
 * confirmation) must fail what waits on it, not hold it for ever. Shared by the device host and
 * the broker's subscription writes.
 */

/**
 * `work`'s result, or a rejection with `message` after `ms`. The timer does not keep the process
 * alive, and a late rejection of `work` is dropped, not left unhandled.
 */
export function within<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  work.catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
