// Every delivered push writes the seed's operations record as one pino JSON line
// (SPEC §6): userId for a patient, nurseId for a nurse, operate, successTime, plus what
// support needs to find the push again. Secrets never reach a log line.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { startPipeline, type Pipeline } from '../support/pipeline-harness.js';

const lines: Array<Record<string, unknown>> = [];
const capture = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    done();
  },
});

let pipeline: Pipeline;

beforeAll(async () => {
  pipeline = await startPipeline('ops-log', { logger: createLogger('info', capture) });
});

afterAll(async () => {
  await pipeline?.stop();
});

const delivered = () => lines.filter((line) => line.msg === 'push delivered');

describe('the operations log', () => {
  it('writes one record per delivered push, with userId for a patient and nurseId for a nurse', async () => {
    const accepted = await pipeline.createOrder({
      patientId: 98,
      nurseId: 7,
      status: 'AWAITING_ACCEPT',
    });
    await pipeline.setStatus(accepted, 'AWAITING_SERVICE');
    const refund = await pipeline.createOrder({ patientId: 99, nurseId: 8, status: 'IN_SERVICE' });
    await pipeline.setStatus(refund, 'REFUND_REQUESTED');
    await pipeline.waitForPushes(2);
    await vi.waitFor(() => expect(delivered()).toHaveLength(2), { timeout: 10_000 });

    const [eventId] = (
      (await pipeline.knex.raw(
        'SELECT CAST(id AS CHAR) AS id FROM order_events WHERE order_id = ?',
        [accepted],
      )) as [Array<{ id: string }>]
    )[0].map((row) => row.id);
    const patientRecord = delivered().find((line) => line.orderId === String(accepted));
    expect(patientRecord).toMatchObject({
      userId: 98,
      operate: '护士接单',
      successTime: expect.stringMatching(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/),
      eventId,
      scenario: 'NURSE_ACCEPTED',
      attempts: 1,
    });
    expect(patientRecord).not.toHaveProperty('nurseId');

    const nurseRecord = delivered().find((line) => line.orderId === String(refund));
    expect(nurseRecord).toMatchObject({
      nurseId: 8,
      operate: '患者申请退款',
      scenario: 'REFUND_REQUESTED',
    });
    expect(nurseRecord).not.toHaveProperty('userId');
  });

  it('censors the Singer token and authorization headers wherever they appear in a log line', () => {
    const seen: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        seen.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = createLogger('info', sink);
    logger.info(
      {
        config: { singerToken: 's3cret-token', dashboard: { password: 'hunter2' } },
        request: { headers: { authorization: 'Bearer s3cret-token' } },
      },
      'a line with secrets',
    );
    const written = seen.join('');
    expect(written).toContain('a line with secrets');
    expect(written).not.toContain('s3cret-token');
    expect(written).not.toContain('hunter2');
  });
});
