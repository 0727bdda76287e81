// aedes-persistence-redis 11 ships no types; the broker passes it an ioredis connection only.
declare module 'aedes-persistence-redis' {
  const factory: (opts: { conn?: unknown; [key: string]: unknown }) => unknown;
  export default factory;
}
