// A job whose data does not parse (put there by hand, or by an older version) is
// dead-lettered at once with the reason, and the pushes behind it flow on. Our poller never
// made it, so MySQL owes nothing for it: it is kept, as it came, in the dashboard's
// dead-letter queue only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listDeadLetters } from '../../src/outcomes/dead-letter-rows.js';
import type { PushJob } from '../../src/scenarios/types.js';
import { eventually, startPipeline, type Pipeline } from '../support/pipeline-harness.js';

let pipeline: Pipeline;

beforeAll(async () => {
  pipeline = await startPipeline('malformed');
});

afterAll(async () => {
  await pipeline?.stop();
});

describe('a malformed job', () => {
  it('is dead-lettered with what does not parse, without retries, and blocks nothing', async () => {
    const malformed = {
      idempotencyKey: 'evt-1-BROKEN',
      scenario: 'SERVICE_STARTED',
      event: { orderId: 'x' },
    };
    await pipeline.service.deliveries.add('SERVICE_STARTED', malformed as unknown as PushJob, {
      jobId: 'evt-1-BROKEN',
    });

    const orderId = await pipeline.createOrder({
      patientId: 501,
      nurseId: 7,
      status: 'AWAITING_SERVICE',
    });
    await pipeline.setStatus(orderId, 'IN_SERVICE');
    const [delivered] = await pipeline.waitForPushes(1, { orderId });
    expect(delivered?.body.scenario).toBe('SERVICE_STARTED');

    const view = await eventually(
      async () => (await pipeline.service.deadLetters.getJob('evt-1-BROKEN'))?.data,
      20_000,
      () => 'the malformed job is not in the dead-letter queue',
    );
    expect(view.reason).toMatch(/does not parse/);
    expect(view.reason).toMatch(/event\.eventId/);
    expect(view.attempts).toBe(1);
    expect(view.push).toEqual(malformed);
    expect(await pipeline.service.deliveries.getJobState('evt-1-BROKEN')).toBe('failed');
    expect(await listDeadLetters(pipeline.knex)).toEqual([]);
    // Singer never saw it.
    expect(pipeline.singer.requests.map((r) => r.idempotencyKey)).not.toContain('evt-1-BROKEN');
  });
});
