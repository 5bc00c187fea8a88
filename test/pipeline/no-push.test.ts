// What must NOT reach Singer (SPEC §2, §4), end to end. "Nothing arrived" is proved, not waited
// for: each test ends with a later sentinel change that does push; the poller claims in event
// order, so once the sentinel is delivered and the pipeline is idle, every earlier change has
// gone through the whole pipeline, and the sentinel must be the only push.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPipeline, type Pipeline } from '../support/pipeline-harness.js';

interface OutboxRow {
  id: string;
  from_status: string | null;
  to_status: string | null;
  to_reason: string | null;
  handed_off: number;
}

describe('changes that push nothing', () => {
  let pipeline: Pipeline;
  let nextPatientId = 5000;

  beforeAll(async () => {
    pipeline = await startPipeline('no-push');
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  beforeEach(async () => {
    await pipeline.waitUntilIdle();
    pipeline.singer.reset();
  });

  async function order(status: string, nurseId: number | null = 7): Promise<number> {
    nextPatientId += 1;
    return pipeline.createOrder({ patientId: nextPatientId, nurseId, status });
  }

  async function outboxRows(orderId: number): Promise<OutboxRow[]> {
    const [rows] = (await pipeline.knex.raw(
      `SELECT CAST(id AS CHAR) AS id, from_status, to_status, to_reason,
              handed_off_at IS NOT NULL AS handed_off
         FROM order_events WHERE order_id = ? ORDER BY id`,
      [orderId],
    )) as [OutboxRow[]];
    return rows;
  }

  /** A change that pushes (SERVICE_STARTED); returns once it is delivered and all is idle. */
  async function sentinel(): Promise<number> {
    const orderId = await order('AWAITING_SERVICE');
    await pipeline.setStatus(orderId, 'IN_SERVICE');
    await pipeline.waitForPushes(1, { orderId });
    await pipeline.waitUntilIdle();
    return orderId;
  }

  function expectOnlyPushFor(orderId: number): void {
    expect(pipeline.singer.requests.map((push) => push.body.data.orderId)).toEqual([
      String(orderId),
    ]);
  }

  it('records but does not push PENDING_PAYMENT → PAYING, → CANCELLED by the patient, REFUNDING → REFUNDED, SERVICE_DONE → CLOSED', async () => {
    const changes = [
      { from: 'PENDING_PAYMENT', to: 'PAYING', reason: null },
      { from: 'PENDING_PAYMENT', to: 'CANCELLED', reason: 'PATIENT_CANCELLED' },
      { from: 'REFUNDING', to: 'REFUNDED', reason: null },
      { from: 'SERVICE_DONE', to: 'CLOSED', reason: null },
    ];
    const orderIds: number[] = [];
    for (const change of changes) {
      const orderId = await order(change.from);
      await pipeline.setStatus(orderId, change.to, change.reason);
      orderIds.push(orderId);
    }

    expectOnlyPushFor(await sentinel());
    for (const [i, orderId] of orderIds.entries()) {
      const rows = await outboxRows(orderId);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        from_status: changes[i]?.from,
        to_status: changes[i]?.to,
        to_reason: changes[i]?.reason,
        handed_off: 1,
      });
    }
  });

  it('records no event and pushes nothing for an UPDATE that changes neither status nor status_reason', async () => {
    const orderId = await order('AWAITING_SERVICE');
    await pipeline.knex.raw(
      'UPDATE orders SET amount_cents = amount_cents + 100, note = ? WHERE id = ?',
      ['paid by card', orderId],
    );
    // Writing the values the row already has is no change either.
    await pipeline.knex.raw(
      'UPDATE orders SET status = status, status_reason = status_reason, note = ? WHERE id = ?',
      ['rewritten', orderId],
    );

    expectOnlyPushFor(await sentinel());
    expect(await outboxRows(orderId)).toEqual([]);
  });

  it('records no event and pushes nothing for a change whose transaction rolls back', async () => {
    const orderId = await order('AWAITING_SERVICE');
    const rolledBack = new Error('the order service rolls back');
    await expect(
      pipeline.knex.transaction(async (trx) => {
        await trx.raw('UPDATE orders SET status = ? WHERE id = ?', ['IN_SERVICE', orderId]);
        // The trigger did write the event, inside the transaction that is about to roll back.
        const [inside] = (await trx.raw(
          'SELECT COUNT(*) AS n FROM order_events WHERE order_id = ?',
          [orderId],
        )) as [Array<{ n: number | string }>];
        expect(Number(inside[0]?.n)).toBe(1);
        throw rolledBack;
      }),
    ).rejects.toBe(rolledBack);

    expectOnlyPushFor(await sentinel());
    expect(await outboxRows(orderId)).toEqual([]);
    const [row] = await pipeline.knex('orders').where({ id: orderId }).select('status');
    expect(row).toMatchObject({ status: 'AWAITING_SERVICE' });
  });

  it('records an unknown status, pushes nothing for it, and goes on with the next event', async () => {
    const toUnknown = await order('IN_SERVICE');
    await pipeline.setStatus(toUnknown, 'TELEPORTED', 'NEW_FEATURE');
    const fromUnknown = await order('LEGACY_STATE');
    await pipeline.setStatus(fromUnknown, 'SERVICE_DONE');

    expectOnlyPushFor(await sentinel());
    expect(await outboxRows(toUnknown)).toMatchObject([
      {
        from_status: 'IN_SERVICE',
        to_status: 'TELEPORTED',
        to_reason: 'NEW_FEATURE',
        handed_off: 1,
      },
    ]);
    expect(await outboxRows(fromUnknown)).toMatchObject([
      { from_status: 'LEGACY_STATE', to_status: 'SERVICE_DONE', handed_off: 1 },
    ]);
    expect(await pipeline.service.deadLetters.count()).toBe(0);
  });

  it('records one event and sends one push per row for one UPDATE that changes many orders', async () => {
    const orderIds: number[] = [];
    for (let i = 0; i < 5; i++) orderIds.push(await order('AWAITING_SERVICE'));

    await pipeline.knex.raw(
      `UPDATE orders SET status = 'IN_SERVICE' WHERE id IN (${orderIds.map(() => '?').join(',')})`,
      orderIds,
    );
    await pipeline.waitForPushes(orderIds.length);
    await pipeline.waitUntilIdle();

    const eventIds = new Set<string>();
    for (const orderId of orderIds) {
      const rows = await outboxRows(orderId);
      expect(rows).toHaveLength(1);
      eventIds.add(rows[0]?.id ?? '');
      const pushes = pipeline.requestsFor(orderId);
      expect(pushes).toHaveLength(1);
      expect(pushes[0]?.body).toMatchObject({
        scenario: 'SERVICE_STARTED',
        data: { orderId: String(orderId), eventId: rows[0]?.id },
      });
    }
    expect(eventIds.size).toBe(orderIds.length);
    expect(pipeline.singer.requests).toHaveLength(orderIds.length);
  });
});
