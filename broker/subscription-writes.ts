/**
 * A persistent session's subscriptions, written once per SUBSCRIBE and one write at a time per
 * client, and only those the broker granted.
 *
 * aedes 1.2 (lib/handlers/subscribe.js, storeSubscriptions) calls
 * `persistence.addSubscriptions(client, packet.subscriptions)` once PER FILTER of a clean=false
 * SUBSCRIBE, each time with the whole packet's list, refused filters included. With
 * aedes-persistence-redis each call broadcasts on `$SYS/sub/add` and waits for its own message to
 * come back, keyed by client id and the list's FIRST topic (aedes-persistence
 * broadcastPersistence.js): the N calls of one packet share one key, each registration replaces the
 * previous one, and only the last call ever resolves. The other N-1 never do, so the SUBACK never
 * goes out: a device (clean=false, QoS 1 on authz-info, req and ace/trl/<aud>) hangs at its
 * subscribe on every Redis broker, and mqtt.js's connect never completes for it.
 * Here the calls of one packet store each granted filter once, and a client's writes run in turn
 * (so two packets with the same first topic cannot share a waiting key either). A filter refused
 * by authorizeSubscribe (RFC 9431 §4.3, SUBACK 0x80) is never stored: stored, the shared session
 * would queue messages on it for the client while it is offline.
 */
import { within } from '../device/adapters/index.js';

/**
 * How long one write may take. A broadcast that never comes back (Redis lost mid-write, a pub/sub
 * connection re-established in between), or a Redis that stalls its writes, would otherwise leave
 * the SUBSCRIBE unanswered for good: a client with no SUBACK timeout of its own hangs there, and
 * the next write of that client id waits behind it. Past the bound the write fails, aedes closes
 * the connection (the client reconnects and subscribes again; the filters are idempotent), and the
 * client's next write has its turn. Shorter than a device's own SUBACK bound (15 s,
 * device/adapters/device-host.ts), so the device learns it from the broker's close.
 */
export const SUBSCRIPTION_WRITE_WAIT_MS = 10_000;

interface SubscriptionPersistence {
  addSubscriptions(client: { id: string }, subs: object[]): Promise<unknown>;
  removeSubscriptions(client: { id: string }, topics: string[]): Promise<unknown>;
}

export function serializeSubscriptionWrites<P extends object>(persistence: P, granted: WeakSet<object>, waitMs = SUBSCRIPTION_WRITE_WAIT_MS): P {
  const target = persistence as unknown as SubscriptionPersistence;
  const add = target.addSubscriptions.bind(target);
  const remove = target.removeSubscriptions.bind(target);
  const tails = new Map<string, Promise<unknown>>();
  /** The filters of one SUBSCRIBE list already written (or being written). */
  const written = new WeakMap<object[], WeakSet<object>>();

  const inTurn = <T>(clientId: string, write: () => Promise<T>): Promise<T> => {
    const stored = (tails.get(clientId) ?? Promise.resolve()).then(write);
    const result = within(stored, waitMs, `the subscription write was not confirmed within ${waitMs} ms`);
    const tail = result.catch(() => {});
    tails.set(clientId, tail);
    void tail.then(() => {
      if (tails.get(clientId) === tail) tails.delete(clientId);
    });
    return result;
  };
  const settle = <T>(promise: Promise<T>, cb?: (err: Error | null) => void): Promise<T> | void => {
    if (!cb) return promise;
    promise.then(() => cb(null), (e: Error) => cb(e));
  };

  target.addSubscriptions = ((client: { id: string }, subs: object[], cb?: (err: Error | null) => void) =>
    settle(
      inTurn(client.id, async () => {
        let done = written.get(subs);
        if (!done) written.set(subs, (done = new WeakSet()));
        const fresh = subs.filter((s) => granted.has(s) && !done.has(s));
        if (fresh.length === 0) return client;
        for (const s of fresh) done.add(s);
        return add(client, fresh);
      }),
      cb,
    )) as SubscriptionPersistence['addSubscriptions'];
  target.removeSubscriptions = ((client: { id: string }, topics: string[], cb?: (err: Error | null) => void) =>
    settle(inTurn(client.id, () => remove(client, topics)), cb)) as SubscriptionPersistence['removeSubscriptions'];
  return persistence;
}
