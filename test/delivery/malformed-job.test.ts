// A job whose data does not parse (put there by hand, or by an older version) is
// dead-lettered at once with the reason, and the pushes behind it flow on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listDeadLetters } from '../../src/delivery/dead-letter.js';
import type { PushJob } from '../../src/scenarios/types.js';
import { startPipeline, type Pipeline } from '../support/pipeline-harness.js';

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

    const letters = await pipeline.waitForDeadLetters(1);
    expect(letters).toHaveLength(1);
    expect(letters[0]?.reason).toMatch(/does not parse/);
    expect(letters[0]?.reason).toMatch(/event\.eventId/);
    expect(letters[0]?.attempts).toBe(1);
    expect((await listDeadLetters(pipeline.service.deadLetters))[0]?.push).toEqual(malformed);
    // Singer never saw it.
    expect(pipeline.singer.requests.map((r) => r.idempotencyKey)).not.toContain('evt-1-BROKEN');
  });
});
