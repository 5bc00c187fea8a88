// The whole pipeline on order services whose `orders` is not SPEC §2's: ids that are BIGINT
// (signed), INT or INT UNSIGNED, a status_reason of VARCHAR(64); and on one that widens its
// status column while push runs (drift). The migrations adapt the outbox to each, every order
// UPDATE runs in strict SQL mode as on RDS, and the 15 scenarios of SPEC §4 still push.
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDoctor } from '../../src/doctor/run-doctor.js';
import { connectOrderService } from '../support/order-service-session.js';
import { startPipeline, type Pipeline } from '../support/pipeline-harness.js';
import { runCli } from '../support/run-cli.js';
import { CASES, SPEC, type Case } from '../support/scenario-cases.js';

interface Variant {
  name: string;
  idType: string;
  reasonType: string;
  /** The first order id: past what SPEC §2's schema would be tested with. */
  firstId: number;
  patientIdOf(index: number): number;
}

const VARIANTS: Variant[] = [
  {
    name: 'BIGINT (signed) ids past 2^32 and negative patient ids',
    idType: 'BIGINT',
    reasonType: 'VARCHAR(32)',
    firstId: 5_000_000_000,
    patientIdOf: (i) => -(1_000 + i),
  },
  {
    name: 'INT ids near the top of INT',
    idType: 'INT',
    reasonType: 'VARCHAR(32)',
    firstId: 2_147_000_000,
    patientIdOf: (i) => 2_147_000_000 + i,
  },
  {
    name: 'INT UNSIGNED ids past INT and a VARCHAR(64) status_reason',
    idType: 'INT UNSIGNED',
    reasonType: 'VARCHAR(64)',
    firstId: 4_000_000_000,
    patientIdOf: (i) => 4_000_000_000 + i,
  },
];

function ordersTable(variant: Variant) {
  return (knex: Knex) =>
    knex.raw(`
      CREATE TABLE orders (
        id            ${variant.idType} PRIMARY KEY AUTO_INCREMENT,
        patient_id    ${variant.idType} NOT NULL,
        nurse_id      ${variant.idType} NULL,
        status        VARCHAR(32) NOT NULL,
        status_reason ${variant.reasonType} NULL,
        updated_at    TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=${variant.firstId}`);
}

/** What the order service does for one case: insert the order, then one plain UPDATE. */
async function runCase(orderService: Knex, c: Case, patientId: number): Promise<number> {
  const [orderId] = (await orderService('orders').insert({
    patient_id: patientId,
    nurse_id: c.nurseId === undefined ? 7 : c.nurseId,
    status: c.from,
  })) as number[];
  await orderService('orders')
    .where({ id: orderId })
    .update({ status: c.to, status_reason: c.reason ?? null, ...c.extra });
  return orderId!;
}

describe.each(VARIANTS)('the 15 scenarios on an order service with $name', (variant) => {
  let pipeline: Pipeline;
  let orderService: Knex;

  beforeAll(async () => {
    pipeline = await startPipeline(`variant-${variant.idType}`, {
      createOrders: ordersTable(variant),
    });
    orderService = connectOrderService(pipeline.config.databaseUrl);
  });

  afterAll(async () => {
    await orderService?.destroy();
    await pipeline?.stop();
  });

  it('pushes every case as SPEC §4 says: one event, one push, to the right person', async () => {
    const orders = [];
    for (const [index, c] of CASES.entries()) {
      const patientId = variant.patientIdOf(index);
      orders.push({ c, patientId, orderId: await runCase(orderService, c, patientId) });
    }
    expect(orders[0]!.orderId).toBeGreaterThanOrEqual(variant.firstId);

    await pipeline.waitForPushes(CASES.length);
    await pipeline.waitUntilIdle();

    for (const { c, patientId, orderId } of orders) {
      const requests = pipeline.requestsFor(orderId);
      expect(requests, `${c.scenario} for order ${orderId}`).toHaveLength(1);
      const { body } = requests[0]!;
      const nurseId = c.extra?.nurse_id ?? c.nurseId ?? 7;
      expect(body.scenario).toBe(c.scenario);
      expect(body.content).toBe(SPEC[c.scenario]!.content);
      expect(body.channel).toBe(SPEC[c.scenario]!.channel);
      expect(body.data.orderId).toBe(String(orderId));
      expect(body.to).toStrictEqual(
        c.recipient === 'pool'
          ? { role: 'nurse', pool: true }
          : c.recipient === 'nurse'
            ? { role: 'nurse', id: String(nurseId) }
            : { role: 'patient', id: String(patientId) },
      );
    }
    const [[{ events }]] = (await pipeline.knex.raw(
      'SELECT COUNT(*) AS events FROM order_events',
    )) as [[{ events: number | string }]];
    expect(Number(events)).toBe(CASES.length);
  });

  if (variant.reasonType === 'VARCHAR(64)') {
    it('records and pushes a change whose reason is 64 characters long', async () => {
      const reason = `PRIORITY_${'R'.repeat(55)}`;
      expect(reason).toHaveLength(64);
      const orderId = await runCase(
        orderService,
        {
          number: 2,
          scenario: 'PAYMENT_SUCCEEDED',
          from: 'PAYING',
          to: 'AWAITING_ACCEPT',
          reason,
          nurseId: null,
          recipient: 'pool',
        },
        variant.patientIdOf(999),
      );

      await pipeline.waitForPushes(1, { orderId });
      const [[event]] = (await pipeline.knex.raw(
        'SELECT to_reason AS reason FROM order_events WHERE order_id = ?',
        [orderId],
      )) as [[{ reason: string }]];
      expect(event.reason).toBe(reason);
    });
  }
});

describe('an order service that widens orders.status while push runs', () => {
  let pipeline: Pipeline;
  let orderService: Knex;

  beforeAll(async () => {
    pipeline = await startPipeline('drift');
    orderService = connectOrderService(pipeline.config.databaseUrl);
  });

  afterAll(async () => {
    await orderService?.destroy();
    await pipeline?.stop();
  });

  async function eventsOf(orderId: number): Promise<string[]> {
    const [rows] = (await pipeline.knex.raw(
      'SELECT to_status AS status FROM order_events WHERE order_id = ? ORDER BY id',
      [orderId],
    )) as [{ status: string }[]];
    return rows.map((r) => r.status);
  }

  const verdicts = async () =>
    Object.fromEntries((await runDoctor(pipeline.config)).checks.map((c) => [c.check, c.verdict]));

  it('keeps its UPDATEs working and later changes pushing; doctor names the drift; push migrate fixes it', async () => {
    await pipeline.knex.raw('ALTER TABLE orders MODIFY status VARCHAR(100) NOT NULL');
    const longStatus = `AWAITING_SERVICE_${'X'.repeat(60)}`; // 77 characters: longer than the outbox's 64
    const [drifted] = (await orderService('orders').insert({
      patient_id: 98,
      nurse_id: 7,
      status: 'AWAITING_ACCEPT',
    })) as number[];

    await orderService('orders').where({ id: drifted }).update({ status: longStatus });

    expect(await eventsOf(drifted!)).toEqual([`${longStatus.slice(0, 63)}~`]);
    // The next ordinary change of another order still pushes, the cut one matched nothing.
    const [ordinary] = (await orderService('orders').insert({
      patient_id: 99,
      nurse_id: 7,
      status: 'AWAITING_SERVICE',
    })) as number[];
    await orderService('orders').where({ id: ordinary }).update({ status: 'IN_SERVICE' });
    const [started] = await pipeline.waitForPushes(1, { orderId: ordinary });
    expect(started?.body.scenario).toBe('SERVICE_STARTED');
    await pipeline.waitUntilIdle();
    expect(pipeline.requestsFor(drifted!)).toEqual([]);

    expect(await verdicts()).toMatchObject({ 'outbox columns': 'fail', trigger: 'fail' });

    const migrated = await runCli(['migrate'], { DATABASE_URL: pipeline.config.databaseUrl });
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toContain('ALGORITHM=INPLACE, LOCK=NONE');

    expect(await verdicts()).toMatchObject({ 'outbox columns': 'ok', trigger: 'ok' });
    await orderService('orders')
      .where({ id: drifted })
      .update({ status: `${longStatus}_2` });
    expect(await eventsOf(drifted!)).toEqual([`${longStatus.slice(0, 63)}~`, `${longStatus}_2`]);
    await orderService('orders').where({ id: ordinary }).update({ status: 'SERVICE_DONE' });
    const [completed] = await pipeline
      .waitForPushes(2, { orderId: ordinary })
      .then((p) => p.slice(1));
    expect(completed?.body.scenario).toBe('SERVICE_COMPLETED');
  });
});
