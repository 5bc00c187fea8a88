/**
 * The floor: the least a polling outbox can cost, in a process of its own. The same trigger
 * and outbox as the product, the same `FOR UPDATE SKIP LOCKED` claim on one READ COMMITTED
 * connection, and then each claimed row is POSTed straight to Singer (keep-alive agent,
 * bounded concurrency, an Idempotency-Key and a body shaped like the product's) and the
 * claimed rows are DELETEd in the claim's transaction. No queue, no retries, no per-order
 * ordering, no dead letters, no templates, no trace: every figure of the product is printed
 * as a ratio to this one, measured in the same run (docs/BENCHMARKS.md, method 7 and 8).
 *
 * With `client: 'push'` (the `floor-client` pipeline) each POST goes through push's own
 * Singer client (src/singer/singer-client.ts: axios, the project's fixed HTTP client) instead
 * of a bare `http.request`: what the client alone adds to the least a push can cost.
 *
 * Forked by pipelines.ts with BENCH_FLOOR (JSON: FloorSettings); says {ready:true} over IPC
 * once its connection is open, and stops when disconnected.
 */
import http from 'node:http';
import mysql from 'mysql2/promise';
import { mysqlConnectionOptions } from '../src/db/database-url.js';
import { OUTBOX_TABLE } from '../src/db/migration-context.js';
import type { SingerRequest } from '../src/scenarios/types.js';
import { createSingerClient } from '../src/singer/singer-client.js';

export interface FloorSettings {
  databaseUrl: string;
  singerUrl: string;
  /** Rows per claim (the product's POLL_BATCH_SIZE). */
  batchSize: number;
  /** Sleep after a claim that was not full (the product's POLL_INTERVAL_MS). */
  pollIntervalMs: number;
  /** POSTs in flight at once (the product's WORKER_CONCURRENCY). */
  concurrency: number;
  /** `node-http`: a bare `http.request` per push; `push`: push's own Singer client. */
  client: 'node-http' | 'push';
}

interface Row {
  id: string;
  order_id: string;
  patient_id: string | null;
  nurse_id: string | null;
  to_status: string;
}

const settings = JSON.parse(process.env.BENCH_FLOOR ?? '') as FloorSettings;
const pushUrl = new URL('/push', settings.singerUrl);
const agent = new http.Agent({ keepAlive: true, maxSockets: settings.concurrency });
const db = await mysql.createConnection({
  ...mysqlConnectionOptions(settings.databaseUrl),
  multipleStatements: true,
});
await db.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');

const CLAIM_SQL = `START TRANSACTION;
  SELECT id, order_id, patient_id, nurse_id, to_status FROM ${OUTBOX_TABLE}
   WHERE handed_off_at IS NULL ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`;

let running = true;
let wake: (() => void) | undefined;

async function cycle(): Promise<number> {
  const [results] = (await db.query(CLAIM_SQL, [settings.batchSize])) as unknown as [
    [unknown, Row[]],
  ];
  const rows = results[1];
  if (rows.length === 0) {
    await db.query('COMMIT');
    return 0;
  }
  await postAll(rows);
  await db.query(
    `DELETE FROM ${OUTBOX_TABLE} WHERE id IN (${rows.map(() => '?').join(',')}); COMMIT`,
    rows.map((row) => row.id),
  );
  return rows.length;
}

/** POSTs every row, at most `concurrency` at a time; a failed POST fails the cycle. */
async function postAll(rows: Row[]): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < rows.length) await post(rows[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(settings.concurrency, rows.length) }, lane));
}

const singer =
  settings.client === 'push'
    ? createSingerClient({ baseUrl: settings.singerUrl, timeoutMs: 10_000 })
    : undefined;

function pushOf(row: Row): SingerRequest {
  const toNurse = row.patient_id === null;
  return {
    idempotencyKey: `floor-evt-${row.id}`,
    channel: toNurse ? 'app' : 'wechat',
    to: toNurse ? { role: 'nurse', pool: true } : { role: 'patient', id: String(row.patient_id) },
    scenario: row.to_status,
    operate: 'ORDER_STATUS',
    content: `Your order ${row.order_id} is now ${row.to_status}.`,
    data: { orderId: String(row.order_id), eventId: String(row.id) },
  };
}

async function post(row: Row): Promise<void> {
  const push = pushOf(row);
  // Resolves on 2xx and throws otherwise, as the bare POST below does.
  if (singer) await singer.send(push);
  else await postBare(push);
}

function postBare(push: SingerRequest): Promise<void> {
  const key = push.idempotencyKey;
  const body = JSON.stringify(push);
  return new Promise((resolve, reject) => {
    const request = http.request(
      pushUrl,
      {
        method: 'POST',
        agent,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
          'Idempotency-Key': key,
        },
      },
      (response) => {
        response.resume();
        response.once('end', () =>
          response.statusCode && response.statusCode < 300
            ? resolve()
            : reject(new Error(`Singer answered ${response.statusCode} to ${key}`)),
        );
      },
    );
    request.once('error', reject);
    request.end(body);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

process.on('disconnect', () => {
  running = false;
  wake?.();
});
process.send?.({ ready: true });

while (running) {
  let claimed = 0;
  try {
    claimed = await cycle();
  } catch (err) {
    console.error('floor: cycle failed', err);
    await db.query('ROLLBACK').catch(() => undefined);
  }
  if (claimed < settings.batchSize && running) await sleep(settings.pollIntervalMs);
}
await db.end();
agent.destroy();
singer?.close();
process.exit(0);
