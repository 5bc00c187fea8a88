/**
 * Checks a job's data before the worker trusts it. Jobs come from our own poller, but also
 * from replays, older versions and people with redis-cli; a job that does not parse is
 * dead-lettered at once with the reason instead of failing, retrying and failing again.
 */
import { z } from 'zod';
import type { PushJob } from '../scenarios/types.js';

export class MalformedPushError extends Error {
  override name = 'MalformedPushError';
}

const eventId = z.string().regex(/^\d+$/, 'must be a decimal id');
// The order service's ids may be signed (BIGINT, INT): push copies them as they are.
const orderServiceId = z.string().regex(/^-?\d+$/, 'must be a decimal id');
const nullableId = orderServiceId.nullable();

// At most what push_outcomes holds: an outcome that cannot be written would hold up the
// writes of every other (the worker retries a batch until MySQL takes it).
const pushJobSchema = z.object({
  idempotencyKey: z.string().min(1).max(100),
  scenario: z.string().min(1).max(64),
  channel: z.enum(['wechat', 'app']),
  priorAttempts: z.number().int().nonnegative().optional(),
  recipient: z.union([
    z.object({ role: z.literal('nurse'), pool: z.literal(true) }),
    z.object({
      role: z.enum(['patient', 'nurse']),
      id: z.string().max(32).nullable(),
      pool: z.literal(false).optional(),
    }),
  ]),
  event: z.object({
    eventId,
    orderId: orderServiceId,
    patientId: nullableId,
    nurseId: nullableId,
    fromStatus: z.string().nullable(),
    toStatus: z.string(),
    fromReason: z.string().nullable(),
    toReason: z.string().nullable(),
    occurredAt: z.string(),
  }),
});

export function parsePushJob(data: unknown): PushJob {
  const parsed = pushJobSchema.safeParse(data);
  if (parsed.success) return parsed.data as PushJob;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new MalformedPushError(`the job's data does not parse: ${problems.join('; ')}`);
}
