/**
 * The (jkt, jti) replay record shared by gateway instances (RFC 9449 §11.1): one Redis SET NX PX
 * per proof, atomic across instances, expiring when the proof's iat leaves the window. A Redis
 * that does not answer refuses the request (fail closed: freshness cannot be known without it).
 */
import type { DpopReplayRecord } from '../sender-constraint/index.js';
import { GatewayError } from './errors.js';

/** The slice of ioredis used: SET key value PX ms NX. */
export interface RedisSetNx {
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<'OK' | null>;
}

export const DPOP_REPLAY_KEY_PREFIX = 'keybound:gateway:dpop:';

export class RedisDpopReplay implements DpopReplayRecord {
  readonly #redis: RedisSetNx;
  readonly #clock: () => number;

  constructor(redis: RedisSetNx, clock: () => number) {
    this.#redis = redis;
    this.#clock = clock;
  }

  async seen(jkt: string, jti: string, expiresAt: number): Promise<boolean> {
    // jkt is a fixed-length b64url thumbprint, so "jkt jti" cannot collide across pairs.
    const ms = Math.max(1000, Math.ceil((expiresAt - this.#clock()) * 1000));
    let answer: 'OK' | null;
    try {
      answer = await this.#redis.set(`${DPOP_REPLAY_KEY_PREFIX}${jkt} ${jti}`, '1', 'PX', ms, 'NX');
    } catch (e) {
      throw new GatewayError('redis_unavailable', 'the shared DPoP replay record is unavailable', { cause: e });
    }
    return answer === null;
  }
}
