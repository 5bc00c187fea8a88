/**
 * Bull Board under /admin/queues: the delivery and dead-letter queues, for operators to look
 * at, not to change. Bull Board's buttons would each undo a guarantee here: Retry on a
 * failed delivery sends it without its place in the order's sequence (given up when it was
 * dead-lettered), so after the order's later pushes, and leaves its dead letter behind;
 * Promote skips the back-off (and Singer's Retry-After) of a push being retried; Remove,
 * Clean and Empty throw away pushes still owed; Add job sends a push no order change asked
 * for. So both queues are read-only: Bull Board then shows their jobs but hides those
 * buttons and refuses their API calls (405). The one way to send a dead-lettered push again
 * is `push dlq replay`, which keeps its order and its key.
 *
 * With DASHBOARD_USER/DASHBOARD_PASSWORD it asks for HTTP basic auth; without them it
 * answers only requests from this machine (loopback), so a forgotten setting never
 * exposes the queues (and the pushes' contents) to the network.
 */
import { timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { Express, NextFunction, Request, Response } from 'express';

export const DASHBOARD_PATH = '/admin/queues';

export function mountDashboard(
  app: Express,
  queues: { deliveries: Queue; deadLetters: Queue },
  credentials: { user: string; password: string } | undefined,
): void {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: [
      new BullMQAdapter(queues.deliveries, { readOnlyMode: true }),
      new BullMQAdapter(queues.deadLetters, { readOnlyMode: true }),
    ],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'push' } },
  });
  const guard = credentials ? basicAuth(credentials) : loopbackOnly;
  app.use(DASHBOARD_PATH, guard, serverAdapter.getRouter());
}

function basicAuth(credentials: { user: string; password: string }) {
  const expected = Buffer.from(`${credentials.user}:${credentials.password}`);
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization ?? '';
    const given = header.startsWith('Basic ')
      ? Buffer.from(header.slice(6), 'base64')
      : Buffer.alloc(0);
    if (given.length === expected.length && timingSafeEqual(given, expected)) return next();
    res.set('WWW-Authenticate', 'Basic realm="push dashboard", charset="UTF-8"');
    res.status(401).send('authentication required');
  };
}

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 (`::ffff:127.0.0.1`). */
export function isLoopbackAddress(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

export function loopbackOnly(req: Request, res: Response, next: NextFunction): void {
  if (isLoopbackAddress(req.socket.remoteAddress ?? '')) return next();
  res
    .status(403)
    .send(
      'the dashboard is served to localhost only; set DASHBOARD_USER and DASHBOARD_PASSWORD to open it',
    );
}
