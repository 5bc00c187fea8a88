/**
 * Is MySQL, is Redis reachable from this process? One check per dependency, shared by
 * /readyz and the push_up gauge, each answering within DEPENDENCY_TIMEOUT_MS.
 */
import { boundedCall } from './bounded-call.js';

/**
 * Well under the kubelet's default 1 s probe timeout, with room for the HTTP exchange on a
 * busy host; a healthy MySQL or Redis answers a ping in about a millisecond.
 */
export const DEPENDENCY_TIMEOUT_MS = 400;

export interface DependencyCheck {
  /** The `dependency` label of push_up and the key in /readyz: `mysql`, `redis`. */
  name: string;
  /** 'ok', or why not (an error message or "no answer within 400 ms"). Never throws. */
  verdict(): Promise<string>;
}

/** `ask` is one cheap round trip (SELECT 1, PING) that rejects when the dependency cannot answer. */
export function dependencyCheck(name: string, ask: () => Promise<unknown>): DependencyCheck {
  const bounded = boundedCall(ask, DEPENDENCY_TIMEOUT_MS);
  return {
    name,
    async verdict() {
      try {
        await bounded();
        return 'ok';
      } catch (err) {
        return (err as Error).message || String(err);
      }
    },
  };
}
