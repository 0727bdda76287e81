/**
 * Per-address limits (sessions, device authorizations) count a client by where it connects from.
 * An IPv6 host usually has a whole /64 to pick addresses from, so it is counted by that.
 */
/** The key an address is counted under: an IPv4 address, or the /64 of an IPv6 one (one host's share). */
export function addressKey(remote: string): string {
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(remote);
  if (v4) return v4[1]!;
  if (!remote.includes(':')) return remote;
  // Expand "::" (an embedded dotted IPv4 tail is two groups), so every spelling of a /64 is one key.
  const groups = (part: string) => (part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  const [head = '', tail] = remote.split('%')[0]!.split('::');
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return all.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':');
}
