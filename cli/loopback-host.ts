/** Whether a listening address keeps a listener to this machine (the warnings of authz and broker serve). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** Whether a listening address is every interface's (0.0.0.0, ::): no client can reach a URL that names it. */
export function isUnspecifiedHost(host: string): boolean {
  return /^(0\.0\.0\.0|::|\[::\]|0:0:0:0:0:0:0:0)$/.test(host);
}
