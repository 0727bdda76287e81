/** Whether a listening address keeps a listener to this machine (the warnings of authz and broker serve). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
