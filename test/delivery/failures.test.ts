// When Singer or a push fails (SPEC §5, §7), end to end on real MariaDB, Redis and the stub
// Singer: retries under one idempotency key, Retry-After, the dead-letter queue, events behind
// a bad one, per-order ordering while a push is being retried, and `push dlq replay`.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { replayDeadLetters } from '../../src/delivery/dead-letter.js';
import { listDeadLetters } from '../../src/outcomes/dead-letter-rows.js';
import { defaultScenarioFile } from '../../src/scenarios/catalog.js';
import type { ReceivedPush } from '../../src/singer/stub-singer.js';
import { startPipeline, type Pipeline, type PipelineOptions } from '../support/pipeline-harness.js';
import { runCli } from '../support/run-cli.js';

const pipelines: Pipeline[] = [];

afterEach(async () => {
  while (pipelines.length > 0) await pipelines.pop()?.stop();
});

async function pipelineFor(label: string, options: PipelineOptions = {}): Promise<Pipeline> {
  const pipeline = await startPipeline(label, options);
  pipelines.push(pipeline);
  return pipeline;
}

let nextPatientId = 7000;

/** An order that just started its service (AWAITING_SERVICE → IN_SERVICE: SERVICE_STARTED). */
async function startedService(pipeline: Pipeline): Promise<number> {
  nextPatientId += 1;
  const orderId = await pipeline.createOrder({
    patientId: nextPatientId,
    nurseId: 7,
    status: 'AWAITING_SERVICE',
  });
  await pipeline.setStatus(orderId, 'IN_SERVICE');
  return orderId;
}

async function eventIdsOf(pipeline: Pipeline, orderId: number): Promise<string[]> {
  const [rows] = (await pipeline.knex.raw(
    'SELECT CAST(id AS CHAR) AS id FROM order_events WHERE order_id = ? ORDER BY id',
    [orderId],
  )) as [Array<{ id: string }>];
  return rows.map((row) => row.id);
}

function expectOneKeyThroughout(requests: ReceivedPush[]): void {
  const key = requests[0]?.body.idempotencyKey;
  expect(key).toEqual(expect.any(String));
  for (const request of requests) {
    expect(request.body.idempotencyKey).toBe(key);
    expect(request.headers['idempotency-key']).toBe(key);
  }
}

const isDelivered = (push: ReceivedPush) => push.status >= 200 && push.status < 300;

describe('retries', () => {
  it('retries a push Singer answers 503 twice and delivers it once, every attempt under the same key', async () => {
    const pipeline = await pipelineFor('retry-503', {
      respond: (_push, attempt) => ({ status: attempt <= 2 ? 503 : 200 }),
    });

    const orderId = await startedService(pipeline);
    await pipeline.waitForPushes(1, { orderId });
    await pipeline.waitUntilIdle();

    const requests = pipeline.requestsFor(orderId);
    expect(requests.map((r) => r.status)).toEqual([503, 503, 200]);
    expectOneKeyThroughout(requests);
    expect(pipeline.singer.deliveredKeys()).toEqual(new Set([requests[0]?.idempotencyKey]));
    expect(await listDeadLetters(pipeline.knex)).toEqual([]);
  });

  it('waits as long as Retry-After says before retrying a push Singer answered 429', async () => {
    const pipeline = await pipelineFor('retry-429', {
      respond: (_push, attempt) =>
        attempt === 1 ? { status: 429, headers: { 'Retry-After': '1' } } : { status: 200 },
      // The backoff ceiling also caps Retry-After; lift it above the 1 s asked for.
      env: { DELIVERY_BACKOFF_MAX_MS: '30000' },
    });

    const orderId = await startedService(pipeline);
    await pipeline.waitForPushes(1, { orderId });

    const [refused, retried] = pipeline.requestsFor(orderId);
    expect([refused?.status, retried?.status]).toEqual([429, 200]);
    expectOneKeyThroughout(pipeline.requestsFor(orderId));
    const gapMs = (retried?.receivedAt ?? 0) - (refused?.receivedAt ?? 0);
    // Retry-After: 1 → at least ~1 s (a little slack for clock granularity); the upper bound
    // only says it was not some unrelated, far longer backoff.
    expect(gapMs).toBeGreaterThanOrEqual(950);
    expect(gapMs).toBeLessThan(15_000);
  });
});

describe('the dead-letter queue', () => {
  it('dead-letters a push Singer refuses with 400 after one attempt, keeping Singer’s status and body', async () => {
    const pipeline = await pipelineFor('refused-400', {
      respond: () => ({ status: 400, body: { error: 'unknown recipient' } }),
    });

    const orderId = await startedService(pipeline);
    const [letter] = await pipeline.waitForDeadLetters(1);
    await pipeline.waitUntilIdle();

    const requests = pipeline.requestsFor(orderId);
    expect(requests).toHaveLength(1);
    const [eventId] = await eventIdsOf(pipeline, orderId);
    expect(letter).toMatchObject({
      attempts: 1,
      singerStatus: 400,
      singerBody: '{"error":"unknown recipient"}',
      push: {
        idempotencyKey: requests[0]?.idempotencyKey,
        scenario: 'SERVICE_STARTED',
        event: { eventId, orderId: String(orderId) },
      },
    });
    expect(letter?.reason).toMatch(/Singer refused it/);
    expect(letter?.reason).toMatch(/400/);
    expect(letter?.reason).toMatch(/unknown recipient/);
  });

  it('dead-letters a push that keeps failing transiently once its attempts run out', async () => {
    const pipeline = await pipelineFor('out-of-attempts', {
      respond: () => ({ status: 503, body: { error: 'Singer is down' } }),
      env: { DELIVERY_ATTEMPTS: '3' },
    });

    const orderId = await startedService(pipeline);
    const [letter] = await pipeline.waitForDeadLetters(1);
    await pipeline.waitUntilIdle();

    const requests = pipeline.requestsFor(orderId);
    expect(requests.map((r) => r.status)).toEqual([503, 503, 503]);
    expectOneKeyThroughout(requests);
    expect(letter).toMatchObject({
      attempts: 3,
      singerStatus: 503,
      push: { idempotencyKey: requests[0]?.idempotencyKey },
    });
    expect(letter?.reason).toMatch(/out of attempts/);
    expect(letter?.reason).toMatch(/503/);
  });

  describe('a push that cannot be rendered', () => {
    let scenarioDir: string;
    let scenariosFile: string;

    beforeAll(async () => {
      // Valid Handlebars that passes the load-time check (the sample context has a toReason),
      // but names a variable no push has when an order starts its service without a reason.
      scenarioDir = await mkdtemp(join(tmpdir(), 'push-scenarios-'));
      scenariosFile = join(scenarioDir, 'scenarios.json');
      const catalog = JSON.parse(await readFile(defaultScenarioFile, 'utf8')) as {
        scenarios: Array<{ key: string; template: string }>;
      };
      const started = catalog.scenarios.find((s) => s.key === 'SERVICE_STARTED');
      if (!started) throw new Error('SERVICE_STARTED is missing from the scenario file');
      started.template = `{{#unless toReason}}{{missingVariable}}{{/unless}}${started.template}`;
      await writeFile(scenariosFile, JSON.stringify(catalog, null, 2));
    });

    afterAll(async () => {
      if (scenarioDir) await rm(scenarioDir, { recursive: true, force: true });
    });

    it('dead-letters a push whose template names a variable the push lacks, and delivers the events behind it', async () => {
      const pipeline = await pipelineFor('template-error', {
        env: { SCENARIOS_FILE: scenariosFile },
      });

      const broken = await startedService(pipeline);
      // Behind it: another order's push of the same scenario that renders, another scenario,
      // and the broken order's own next event.
      nextPatientId += 1;
      const fine = await pipeline.createOrder({
        patientId: nextPatientId,
        nurseId: 8,
        status: 'AWAITING_SERVICE',
      });
      await pipeline.setStatus(fine, 'IN_SERVICE', 'NURSE_ARRIVED');
      nextPatientId += 1;
      const other = await pipeline.createOrder({
        patientId: nextPatientId,
        nurseId: 9,
        status: 'IN_SERVICE',
      });
      await pipeline.setStatus(other, 'SERVICE_DONE');
      await pipeline.setStatus(broken, 'SERVICE_DONE');

      const [letter] = await pipeline.waitForDeadLetters(1);
      await pipeline.waitForPushes(3);
      await pipeline.waitUntilIdle();

      const [brokenEventId] = await eventIdsOf(pipeline, broken);
      expect(letter).toMatchObject({
        attempts: 1,
        push: { scenario: 'SERVICE_STARTED', event: { eventId: brokenEventId } },
      });
      expect(letter?.reason).toMatch(/cannot render the push/);
      expect(letter?.reason).toMatch(/missingVariable/);
      expect(letter?.singerStatus).toBeUndefined();

      expect(pipeline.requestsFor(broken).map((r) => r.body.scenario)).toEqual([
        'SERVICE_COMPLETED',
      ]);
      expect(pipeline.requestsFor(fine).map((r) => [r.body.scenario, r.status])).toEqual([
        ['SERVICE_STARTED', 200],
      ]);
      expect(pipeline.requestsFor(other).map((r) => [r.body.scenario, r.status])).toEqual([
        ['SERVICE_COMPLETED', 200],
      ]);
      expect(await listDeadLetters(pipeline.knex)).toHaveLength(1);
    });
  });

  it('dead-letters a NURSE_ACCEPTED push whose nurse is not in nurses, and delivers the events behind it', async () => {
    const pipeline = await pipelineFor('missing-nurse');

    nextPatientId += 1;
    const orphan = await pipeline.createOrder({
      patientId: nextPatientId,
      status: 'AWAITING_ACCEPT',
    });
    await pipeline.setStatus(orphan, 'AWAITING_SERVICE', null, { nurse_id: 404 });
    const behind = await startedService(pipeline);

    const [letter] = await pipeline.waitForDeadLetters(1);
    await pipeline.waitForPushes(1, { orderId: behind });
    await pipeline.waitUntilIdle();

    expect(letter).toMatchObject({
      attempts: 1,
      push: { scenario: 'NURSE_ACCEPTED', event: { orderId: String(orphan), nurseId: '404' } },
    });
    expect(letter?.reason).toMatch(/cannot render the push/);
    expect(letter?.reason).toMatch(/nurse 404/);
    expect(pipeline.requestsFor(orphan)).toEqual([]);
  });

  it('replays a dead letter under its original idempotency key once Singer accepts it, emptying the queue', async () => {
    const pipeline = await pipelineFor('dlq-replay', {
      respond: () => ({ status: 400, body: { error: 'template not approved yet' } }),
    });
    const orderId = await startedService(pipeline);
    const [letter] = await pipeline.waitForDeadLetters(1);
    await pipeline.waitUntilIdle();
    const [eventId] = await eventIdsOf(pipeline, orderId);
    if (!letter || !eventId) throw new Error('expected a dead letter and its event');

    pipeline.setRespond(() => ({ status: 200 }));
    const replayed = await replayDeadLetters(pipeline.replayDeps(), [eventId]);

    expect(replayed).toEqual([letter.push.idempotencyKey]);
    await pipeline.waitForPushes(1, { orderId });
    await pipeline.waitUntilIdle();
    const requests = pipeline.requestsFor(orderId);
    expect(requests.map((r) => r.status)).toEqual([400, 200]);
    expectOneKeyThroughout(requests);
    expect(requests[1]?.idempotencyKey).toBe(letter.push.idempotencyKey);
    expect(await listDeadLetters(pipeline.knex)).toEqual([]);
  });
});

describe('push dlq (the CLI)', () => {
  it('lists a dead letter as JSON, and a replay that is refused again returns to the dead-letter queue once', async () => {
    const pipeline = await pipelineFor('dlq-cli', {
      respond: () => ({ status: 422, body: { error: 'unknown openid' } }),
    });
    const orderId = await startedService(pipeline);
    await pipeline.waitForDeadLetters(1);
    await pipeline.waitUntilIdle();
    const [eventId] = await eventIdsOf(pipeline, orderId);
    const env = {
      DATABASE_URL: pipeline.config.databaseUrl,
      REDIS_URL: pipeline.config.redis.url,
      QUEUE_PREFIX: pipeline.queuePrefix,
    };

    const listed = await runCli(['dlq', 'list', '--json'], env);
    expect(listed.code).toBe(0);
    const letters = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
    expect(letters).toEqual([
      expect.objectContaining({
        eventId,
        orderId: String(orderId),
        scenario: 'SERVICE_STARTED',
        channel: 'wechat',
        attempts: 1,
        singerStatus: 422,
        reason: expect.stringMatching(/Singer refused it/),
      }),
    ]);

    const replay = await runCli(['dlq', 'replay', String(eventId)], env);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/replayed 1 push/);
    // Refused again: back in the dead-letter queue, once, and not retried in a loop.
    await vi.waitFor(
      async () => {
        expect(pipeline.requestsFor(orderId)).toHaveLength(2);
        const again = await listDeadLetters(pipeline.knex);
        expect(again).toHaveLength(1);
        expect(again[0]?.push.idempotencyKey).toBe(letters[0]?.idempotencyKey);
      },
      { timeout: 15_000, interval: 50 },
    );
    await pipeline.waitUntilIdle();
    expect(pipeline.requestsFor(orderId)).toHaveLength(2);
    expectOneKeyThroughout(pipeline.requestsFor(orderId));
  });
});

describe('per-order ordering', () => {
  it('holds an order’s next push until its earlier push, retried after two 503s, is delivered, without holding up other orders', async () => {
    const pipeline = await pipelineFor('per-order-ordering');

    nextPatientId += 1;
    const held = await pipeline.createOrder({
      patientId: nextPatientId,
      nurseId: 7,
      status: 'AWAITING_SERVICE',
    });
    nextPatientId += 1;
    const other = await pipeline.createOrder({
      patientId: nextPatientId,
      nurseId: 8,
      status: 'AWAITING_SERVICE',
    });

    // The other order's push is known to have arrived once the stub recorded its 2xx.
    let otherDelivered!: () => void;
    const otherArrived = new Promise<void>((resolve) => (otherDelivered = resolve));
    pipeline.singer.onRequest((push) => {
      if (push.body.data.orderId === String(other) && isDelivered(push)) otherDelivered();
    });
    pipeline.setRespond(async (push, attempt) => {
      const first =
        push.body.data.orderId === String(held) && push.body.scenario === 'SERVICE_STARTED';
      if (!first) return { status: 200 };
      if (attempt <= 2) return { status: 503 };
      // The third attempt succeeds, but only once the other order's push has arrived: if the
      // other order were held up behind this one, it would come after, and the test fails.
      await Promise.race([otherArrived, new Promise((resolve) => setTimeout(resolve, 4_000))]);
      return { status: 200 };
    });

    // The held order's two events, back to back: its second push is ready at once.
    await pipeline.setStatus(held, 'IN_SERVICE');
    await pipeline.setStatus(held, 'SERVICE_DONE');
    await pipeline.setStatus(other, 'IN_SERVICE');

    await pipeline.waitForPushes(2, { orderId: held });
    await pipeline.waitForPushes(1, { orderId: other });
    await pipeline.waitUntilIdle();

    const requests = pipeline.singer.requests;
    const indexOf = (predicate: (push: ReceivedPush) => boolean) => requests.findIndex(predicate);
    const ofHeld = (scenario: string) => (push: ReceivedPush) =>
      push.body.data.orderId === String(held) && push.body.scenario === scenario;

    expect(requests.filter(ofHeld('SERVICE_STARTED')).map((r) => r.status)).toEqual([
      503, 503, 200,
    ]);
    expect(requests.filter(ofHeld('SERVICE_COMPLETED')).map((r) => r.status)).toEqual([200]);

    const firstDelivered = indexOf((p) => ofHeld('SERVICE_STARTED')(p) && isDelivered(p));
    const secondSeen = indexOf(ofHeld('SERVICE_COMPLETED'));
    const otherSeen = indexOf((p) => p.body.data.orderId === String(other) && isDelivered(p));
    // Singer saw nothing of the second push before the first was delivered…
    expect(secondSeen).toBeGreaterThan(firstDelivered);
    expect(requests[secondSeen]?.receivedAt).toBeGreaterThanOrEqual(
      requests[firstDelivered]?.receivedAt ?? Infinity,
    );
    // …and the other order went through while the first push was still being retried.
    expect(otherSeen).toBeLessThan(firstDelivered);

    const [startedEventId, doneEventId] = await eventIdsOf(pipeline, held);
    expect(requests[firstDelivered]?.body.data.eventId).toBe(startedEventId);
    expect(requests[secondSeen]?.body.data.eventId).toBe(doneEventId);
  });
});
