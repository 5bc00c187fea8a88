/**
 * What Redis knows about each push in flight, apart from the jobs that carry it: its turn in
 * its order, who holds it, and whether it was settled lately. One owner for all three, so
 * that the poller, the workers, the reconciler and `push dlq replay` change them together,
 * each change one atomic script.
 *
 * - **Turns** (SPEC §7, pushes for one order leave in the order of its events): each order
 *   with pushes in flight has a sorted set, scored by event id, of its unsettled pushes'
 *   keys. A push goes only when it is first in its set (or, inside one hand-off job, right
 *   behind its own order's earlier pushes of that job); a later push waits while an earlier
 *   one is retried, and other orders are never held up.
 * - **Holders**: one hash, push key → the id of the BullMQ job that will deliver it: a
 *   hand-off job (one per claimed batch, which makes each push's first attempt) or the
 *   push's own job (its key: retries, pushes waiting for their turn, restored and replayed
 *   pushes). The first holder wins, so when a poller died between enqueueing and committing
 *   and the rows are claimed again, the pushes of both hand-offs are delivered once, by the
 *   first (unless the first one's job was never added). Its size is the number of pushes in
 *   Redis: what back-pressure counts.
 * - **Settled**: keys delivered or dead-lettered in the last COMPLETED_JOB_RETENTION_S,
 *   scored by when. A hand-off skips them: a poller that died after its pushes were
 *   enqueued and delivered, but before its commit, hands the same rows off again, and
 *   nothing is sent twice. (About 140 bytes a push, measured; a retained job takes about 1,400.)
 *
 * All keys sit under the queue prefix, so on a Redis Cluster they share the queues' hash tag
 * and each script's keys one slot.
 */
import type { RedisClient } from '../redis/redis-connection.js';
import type { PushJob } from '../scenarios/types.js';
import { DELIVERY_QUEUE } from './queues.js';

export function orderTurnKey(prefix: string, orderId: string): string {
  return `${prefix}:order-turns:${orderId}`;
}

function holdersKey(prefix: string): string {
  return `${prefix}:push-holders`;
}

function settledKey(prefix: string): string {
  return `${prefix}:settled-pushes`;
}

/**
 * What a hand-off job may do with each of its pushes (the take script's answer):
 * - `skip`: settled already, or held by another job: not this job's to send;
 * - `go`: its turn, or right behind this job's own earlier pushes of its order: send it;
 * - `wait`: an earlier push of its order is held elsewhere: give it a job of its own;
 * - `orphaned`: handed on to a job of its own that Redis does not have (Redis went away
 *   between the hand-over and the job, and this hand-off is being retried): hand it on
 *   again. Adding a job is idempotent by its id, so one being added right now is not doubled.
 */
export type Take = 'skip' | 'go' | 'wait' | 'orphaned';
const TAKES: readonly Take[] = ['skip', 'go', 'wait', 'orphaned'];

// KEYS: holders, settled, one turn set per push. ARGV: holder ('' = each push holds itself),
// trim-before (ms), the delivery queue's job key prefix, then key and event id per push.
// A hand-off takes a push over from an earlier hand-off whose job does not exist: the poller
// that held it never added that job (Redis went away in between, and the rows stayed
// unstamped), so nothing else will ever send it. That job's key shares the prefix's hash tag.
const HOLD_LUA = `
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
for i = 3, #KEYS do
  local key = ARGV[2 * i - 2]
  if ARGV[1] == '' then
    redis.call('ZREM', KEYS[2], key)
    redis.call('ZADD', KEYS[i], ARGV[2 * i - 1], key)
    redis.call('HSET', KEYS[1], key, key)
  elseif not redis.call('ZSCORE', KEYS[2], key) then
    redis.call('ZADD', KEYS[i], ARGV[2 * i - 1], key)
    local holder = redis.call('HGET', KEYS[1], key)
    if not holder or (holder ~= key and redis.call('EXISTS', ARGV[3] .. holder) == 0) then
      redis.call('HSET', KEYS[1], key, ARGV[1])
    end
  end
end
return 0`;

// KEYS: holders, one turn set per push. ARGV: the holder handing over, the delivery queue's
// job key prefix, then key and event id per push. Returns 1 for each push it still held (now
// held by its own job) or had handed on to a job Redis does not have, else 0.
const HAND_OVER_LUA = `
local moved = {}
for i = 2, #KEYS do
  local key = ARGV[2 * i - 1]
  local holder = redis.call('HGET', KEYS[1], key)
  if holder == ARGV[1] or (holder == key and redis.call('EXISTS', ARGV[2] .. key) == 0) then
    redis.call('ZADD', KEYS[i], ARGV[2 * i], key)
    redis.call('HSET', KEYS[1], key, key)
    moved[#moved + 1] = 1
  else
    moved[#moved + 1] = 0
  end
end
return moved`;

// KEYS: the turn set, holders. ARGV: the key, the holder it was left by ('' = none).
const DROP_TURN_LUA = `
local holder = redis.call('HGET', KEYS[2], ARGV[1]) or ''
if holder ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1`;

// KEYS: holders, one turn set per push (in event order). ARGV: the job's id, the delivery
// queue's job key prefix, then the keys.
const TAKE_LUA = `
local ahead, codes = {}, {}
for i = 2, #KEYS do
  local key, turns = ARGV[i + 1], KEYS[i]
  local holder = redis.call('HGET', KEYS[1], key)
  local rank = redis.call('ZRANK', turns, key)
  local code = 0
  if rank and (not holder or holder == ARGV[1]) then
    if not holder then redis.call('HSET', KEYS[1], key, ARGV[1]) end
    local mine = ahead[turns] or 0
    if rank == mine then
      code = 1
      ahead[turns] = mine + 1
    else
      code = 2
    end
  elseif rank and holder == key and redis.call('EXISTS', ARGV[2] .. key) == 0 then
    code = 3
  elseif holder == ARGV[1] then
    -- Its turn is gone (evicted): nothing here will send it; the reconciler restores it.
    redis.call('HDEL', KEYS[1], key)
  end
  codes[#codes + 1] = code
end
return codes`;

// KEYS: holders, settled, one turn set per push. ARGV: now (ms), then the keys.
const SETTLE_LUA = `
for i = 3, #KEYS do
  local key = ARGV[i - 1]
  redis.call('ZREM', KEYS[i], key)
  redis.call('HDEL', KEYS[1], key)
  redis.call('ZADD', KEYS[2], ARGV[1], key)
end
return 0`;

type LedgerScript = (...args: Array<string | number>) => Promise<unknown>;

interface LedgerCommands {
  pushHold: LedgerScript;
  pushHandOver: LedgerScript;
  pushTake: LedgerScript;
  pushSettle: LedgerScript;
  pushDropTurn: LedgerScript;
}

/** ioredis sends a defined command as EVALSHA, loading the script once per connection. */
function commands(redis: RedisClient): LedgerCommands {
  const client = redis as RedisClient & Partial<LedgerCommands>;
  if (!client.pushHold) {
    client.defineCommand('pushHold', { lua: HOLD_LUA });
    client.defineCommand('pushHandOver', { lua: HAND_OVER_LUA });
    client.defineCommand('pushTake', { lua: TAKE_LUA });
    client.defineCommand('pushSettle', { lua: SETTLE_LUA });
    client.defineCommand('pushDropTurn', { lua: DROP_TURN_LUA });
  }
  return client as RedisClient & LedgerCommands;
}

export interface PushLedger {
  /**
   * Records pushes as in flight, held by the hand-off job `holder`: their turns, and this
   * holder unless an earlier job holds them (an earlier hand-off whose job was never added
   * does not). Settled pushes are left out (a repeated hand-off). Awaited before the job is
   * added, so Redis has them before the job exists.
   */
  holdForHandOff(pushes: readonly PushJob[], holder: string): Promise<void>;
  /**
   * Records pushes as in flight, each held by its own job: restored, replayed, or given a
   * job by a hand-off job (first attempt failed, or not its turn). Clears their settled
   * mark: a replayed dead letter is unsettled again.
   */
  holdInOwnJobs(pushes: readonly PushJob[]): Promise<void>;
  /**
   * The hand-off job `holder` gives pushes jobs of their own: each it still holds becomes held
   * by its own job. Resolves with those, and those handed on before to a job Redis does not
   * have (to be added again); the others it must not hand on (Redis lost them, and the
   * reconciler restores them in order, or another job holds them).
   */
  handOver(pushes: readonly PushJob[], holder: string): Promise<PushJob[]>;
  /** The hand-off job `holder` takes its pushes: what to do with each, in its order. */
  take(pushes: readonly PushJob[], holder: string): Promise<Take[]>;
  /** Delivered or dead-lettered: ends the turn (the order's next push may go), marks it settled. */
  settle(pushes: readonly PushJob[]): Promise<void>;
  /**
   * Whether `holder` still holds the push: not when Redis lost it (FLUSHALL, a restart
   * without persistence, a failover that lost the last writes) and it was restored since,
   * or is about to be.
   */
  holds(push: PushJob, holder: string): Promise<boolean>;
  /** The key of the push whose turn it is for this order, or undefined when none waits. */
  currentTurn(orderId: string): Promise<string | undefined>;
  /**
   * Ends a turn left behind by a push nothing will settle, if `leftBy.holder` (undefined: none)
   * still holds it: a job that finished stays finished, so a holder unchanged since its job was
   * seen finished has truly left it; one that changed has handed the push on meanwhile.
   */
  dropTurn(orderId: string, key: string, leftBy: { holder: string | undefined }): Promise<void>;
  /** Who holds each key (undefined: nothing in Redis does). */
  holders(keys: readonly string[]): Promise<Array<string | undefined>>;
  /** How many pushes Redis holds, in any job and any state. */
  countHeld(): Promise<number>;
  /** Whether each key was settled (delivered or dead-lettered) lately. */
  settledLately(keys: readonly string[]): Promise<boolean[]>;
}

export interface LedgerSettings {
  queuePrefix: string;
  /** How long a settled push is remembered: as long as a completed job would be kept. */
  completedJobRetentionS: number;
}

export function pushLedger(
  redis: RedisClient,
  { queuePrefix: prefix, completedJobRetentionS: settledRetentionS }: LedgerSettings,
): PushLedger {
  const run = commands(redis);
  const holders = holdersKey(prefix);
  const settled = settledKey(prefix);
  // Where BullMQ keeps a delivery job's hash: <prefix>:<queue>:<job id> (Queue.toKey).
  const jobKeyPrefix = `${prefix}:${DELIVERY_QUEUE}:`;
  const settling: PushJob[] = [];
  let nextSettle: Promise<void> | undefined;
  const turnsOf = (pushes: readonly PushJob[]) =>
    pushes.map((push) => orderTurnKey(prefix, push.event.orderId));
  /** Each push's key and event id: what the hold and hand-over scripts score turns by. */
  const keysAndEvents = (pushes: readonly PushJob[]) =>
    pushes.flatMap((push) => [push.idempotencyKey, push.event.eventId]);
  /** Runs a ledger script: ioredis wants the number of keys, then the keys, then the rest. */
  const script = <T>(
    command: keyof LedgerCommands,
    keys: string[],
    args: Array<string | number>,
  ): Promise<T> => run[command](keys.length, ...keys, ...args) as Promise<T>;

  /** A hand-off's script over its pushes: one answer per push. */
  const byHolder = (
    command: 'pushHandOver' | 'pushTake',
    pushes: readonly PushJob[],
    holder: string,
    perPush: Array<string | number>,
  ) => script<number[]>(command, [holders, ...turnsOf(pushes)], [holder, jobKeyPrefix, ...perPush]);

  function hold(pushes: readonly PushJob[], holder: string): Promise<unknown> {
    if (pushes.length === 0) return Promise.resolve();
    const keys = [holders, settled, ...turnsOf(pushes)];
    const trimBefore = Date.now() - settledRetentionS * 1000;
    return script('pushHold', keys, [holder, trimBefore, jobKeyPrefix, ...keysAndEvents(pushes)]);
  }

  return {
    async holdForHandOff(pushes, holder) {
      await hold(pushes, holder);
    },
    async holdInOwnJobs(pushes) {
      await hold(pushes, '');
    },
    async handOver(pushes, holder) {
      if (pushes.length === 0) return [];
      const moved = await byHolder('pushHandOver', pushes, holder, keysAndEvents(pushes));
      return pushes.filter((_, i) => moved[i] === 1);
    },
    async take(pushes, holder) {
      if (pushes.length === 0) return [];
      const keys = pushes.map((push) => push.idempotencyKey);
      const codes = await byHolder('pushTake', pushes, holder, keys);
      return codes.map((code) => TAKES[code] ?? 'skip');
    },
    settle(pushes) {
      if (pushes.length === 0) return Promise.resolve();
      settling.push(...pushes);
      // Deliveries that end in the same I/O phase are settled by one script call.
      nextSettle ??= new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        const batch = settling.splice(0);
        nextSettle = undefined;
        const keys = [holders, settled, ...turnsOf(batch)];
        await script('pushSettle', keys, [Date.now(), ...batch.map((p) => p.idempotencyKey)]);
      });
      return nextSettle;
    },
    async holds(push, holder) {
      return (await redis.hget(holders, push.idempotencyKey)) === holder;
    },
    async currentTurn(orderId) {
      const [first] = await redis.zrange(orderTurnKey(prefix, orderId), 0, 0);
      return first;
    },
    async dropTurn(orderId, key, { holder }) {
      await script('pushDropTurn', [orderTurnKey(prefix, orderId), holders], [key, holder ?? '']);
    },
    async holders(keys) {
      if (keys.length === 0) return [];
      const found = await redis.hmget(holders, ...keys);
      return found.map((holder) => holder ?? undefined);
    },
    countHeld() {
      return redis.hlen(holders);
    },
    async settledLately(keys) {
      if (keys.length === 0) return [];
      const scores = await redis.zmscore(settled, ...keys);
      return scores.map((score) => score !== null);
    },
  };
}
