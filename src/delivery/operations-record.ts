/**
 * The seed's operations record (SPEC §6) for one delivered push:
 * `{"userId":98,"operate":"护士接单","successTime":"2016-12-10 17:12:46.224"}` for a
 * patient, `nurseId` for a nurse, plus what support needs to find the push again.
 */
import type { PushJob, SingerRequest } from '../scenarios/types.js';

export function operationsRecord(
  push: PushJob,
  request: SingerRequest,
  attempts: number,
  deliveredAt: Date,
): Record<string, unknown> {
  const to = request.to;
  const who =
    'pool' in to
      ? { nursePool: true }
      : to.role === 'patient'
        ? { userId: Number(to.id) }
        : { nurseId: Number(to.id) };
  // Not `{ ...who, operate, … }`: see rowOf in outcome-recorder.ts (one such record a push).
  return Object.assign(who, {
    operate: request.operate,
    successTime: formatSuccessTime(deliveredAt),
    eventId: push.event.eventId,
    orderId: push.event.orderId,
    scenario: push.scenario,
    channel: push.channel,
    attempts,
    key: push.idempotencyKey,
  });
}

/** `2016-12-10 17:12:46.224`, in the process's local time zone, as the seed logged it. */
export function formatSuccessTime(at: Date): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return (
    `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ` +
    `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}.${pad(at.getMilliseconds(), 3)}`
  );
}
