// Every push scenario of SPEC §4, end to end: an order row in MariaDB, a plain UPDATE as the
// order service would write it, the trigger, the poller, BullMQ, the worker, and the request
// that reaches the stub Singer — checked field by field against SPEC §4 and §5.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPipeline, type Pipeline } from '../support/pipeline-harness.js';
import { CASES, SPEC, type Case } from '../support/scenario-cases.js';

const TOKEN = 'e2e-singer-token';
const ORDER_DETAIL_URL = 'https://m.example.com/orders/{{orderId}}';

function title(c: Case): string {
  const change = c.from === c.to ? `${c.from} stays` : `${c.from} → ${c.to}`;
  const who = c.recipient === 'pool' ? 'the nurse pool' : `the ${c.recipient}`;
  return `${c.number} ${c.scenario}: ${change} (reason ${c.reason ?? 'none'}) tells ${who}`;
}

describe('scenario pushes, end to end (SPEC §4, §5)', () => {
  let pipeline: Pipeline;

  beforeAll(async () => {
    pipeline = await startPipeline('scenarios-e2e', {
      env: { SINGER_TOKEN: TOKEN, ORDER_DETAIL_URL },
    });
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('covers every scenario of SPEC §4, both forms of 14 and both recipients of 2', () => {
    expect(new Set(CASES.map((c) => c.number))).toEqual(
      new Set(Array.from({ length: 15 }, (_, i) => i + 1)),
    );
    expect(new Set(CASES.map((c) => c.scenario))).toEqual(new Set(Object.keys(SPEC)));
    const twos = CASES.filter((c) => c.number === 2).map((c) => c.recipient);
    expect(new Set(twos)).toEqual(new Set(['pool', 'nurse']));
    const fourteens = CASES.filter((c) => c.number === 14);
    expect(fourteens.some((c) => c.from === c.to)).toBe(true);
    expect(fourteens.some((c) => c.from !== c.to)).toBe(true);
  });

  CASES.forEach((c, index) => {
    it(title(c), async () => {
      const spec = SPEC[c.scenario];
      if (!spec) throw new Error(`no SPEC entry for ${c.scenario}`);
      const patientId = 9000 + index;
      const orderId = await pipeline.createOrder({
        patientId,
        nurseId: c.nurseId === undefined ? 7 : c.nurseId,
        status: c.from,
      });

      await pipeline.setStatus(orderId, c.to, c.reason ?? null, c.extra);
      const [received] = await pipeline.waitForPushes(1, { orderId });
      await pipeline.waitUntilIdle();

      // Exactly one event, and exactly one request for it (no second scenario fired).
      const [events] = (await pipeline.knex.raw(
        'SELECT CAST(id AS CHAR) AS id FROM order_events WHERE order_id = ?',
        [orderId],
      )) as [Array<{ id: string }>];
      expect(events).toHaveLength(1);
      const eventId = events[0]?.id;
      expect(pipeline.requestsFor(orderId)).toHaveLength(1);

      if (!received) throw new Error('no push received');
      const { body, headers } = received;
      const nurseId = c.extra?.nurse_id ?? c.nurseId ?? 7;

      expect(headers['content-type']).toMatch(/^application\/json/);
      expect(headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(typeof body.idempotencyKey).toBe('string');
      expect(body.idempotencyKey.length).toBeGreaterThan(0);
      expect(headers['idempotency-key']).toBe(body.idempotencyKey);

      expect(body.channel).toBe(spec.channel);
      if (c.recipient === 'pool') {
        expect(body.to).toStrictEqual({ role: 'nurse', pool: true });
        expect('id' in body.to).toBe(false);
      } else if (c.recipient === 'nurse') {
        expect(body.to).toStrictEqual({ role: 'nurse', id: String(nurseId) });
      } else {
        expect(body.to).toStrictEqual({ role: 'patient', id: String(patientId) });
      }
      expect(body.scenario).toBe(c.scenario);
      expect(body.operate).toBe(spec.operate);
      expect(body.content).toBe(spec.content);

      if (spec.link) {
        expect(body.url).toBe(`https://m.example.com/orders/${orderId}`);
      } else {
        expect('url' in body).toBe(false);
      }

      if (c.scenario === 'NURSE_ACCEPTED') {
        expect(body.data).toStrictEqual({
          orderId: String(orderId),
          eventId,
          nurse: { id: String(nurseId), name: c.nurseName },
        });
      } else {
        expect(body.data).toStrictEqual({ orderId: String(orderId), eventId });
      }

      // Nothing beyond SPEC §5's fields.
      expect(Object.keys(body).sort()).toEqual(
        ['channel', 'content', 'data', 'idempotencyKey', 'operate', 'scenario', 'to']
          .concat(spec.link ? ['url'] : [])
          .sort(),
      );
    });
  });
});
