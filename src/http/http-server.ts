/**
 * The operations HTTP server, in every process whatever its roles: /healthz (liveness: this
 * process's loops are turning), /readyz (readiness: MySQL and Redis answer and the loops do
 * their job; 503 otherwise, saying why; its `details` say what an operator should know but
 * that leaves the process ready, such as back-pressure or an evicting Redis), and whatever
 * the composition root mounts (metrics, the dashboard). Both probes answer well within the
 * kubelet's 1 s default timeout: loops answer from memory, dependencies and details within
 * DEPENDENCY_TIMEOUT_MS, all at once.
 */
import http from 'node:http';
import express, { type Express } from 'express';
import type { DependencyCheck } from './dependency-checks.js';
import type { LoopCheck } from './liveness.js';

export interface HealthChecks {
  /** The loops this process runs (poller, worker); the composition root adds them as it starts them. */
  loops: LoopCheck[];
  dependencies: DependencyCheck[];
  /** Said in /readyz's `details`; never a reason to be unready. */
  details: ReadinessDetail[];
}

export interface ReadinessDetail {
  name: string;
  /**
   * A sentence for /readyz's `details`, or nothing to say; answers from memory or within
   * DEPENDENCY_TIMEOUT_MS (boundedCall), like the checks.
   */
  detail(): Promise<string | undefined>;
}

/**
 * Requests whose handler has not answered yet. A socket's 'close' is not enough: a client
 * that goes away (a dashboard tab closed) leaves Bull Board's handler running its Redis
 * commands, and shutdown must not close Redis under it. So a request counts until its
 * handler ends the response, whether or not anyone is still listening.
 */
function unanswered(app: Express): Set<http.ServerResponse> {
  return (app.locals.unanswered ??= new Set<http.ServerResponse>()) as Set<http.ServerResponse>;
}

export function createHttpApp(health: HealthChecks): Express {
  const app = express();
  app.disable('x-powered-by');
  const pending = unanswered(app);
  app.use((_req, res, next) => {
    pending.add(res);
    const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
    res.end = ((...args: unknown[]) => {
      pending.delete(res);
      return end(...args);
    }) as typeof res.end;
    next();
  });
  app.get('/healthz', (_req, res) => {
    const checks = health.loops.map((loop) => [loop.name, loop.stale() ?? 'ok'] as const);
    const alive = checks.every(([, verdict]) => verdict === 'ok');
    res.status(alive ? 200 : 503).json({
      status: alive ? 'ok' : 'stale',
      checks: Object.fromEntries(checks),
    });
  });
  app.get('/readyz', async (_req, res) => {
    const [dependencies, details] = await Promise.all([
      Promise.all(
        health.dependencies.map(async (check) => [check.name, await check.verdict()] as const),
      ),
      Promise.all(
        health.details.map(async ({ name, detail }) => [name, await said(detail)] as const),
      ),
    ]);
    const loops = health.loops.map(
      (loop) => [loop.name, loop.stale() ?? loop.unready?.() ?? 'ok'] as const,
    );
    const checks = [...dependencies, ...loops];
    const ready = checks.every(([, verdict]) => verdict === 'ok');
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'not ready',
      checks: Object.fromEntries(checks),
      details: Object.fromEntries(details.filter(([, text]) => text !== undefined)),
    });
  });
  return app;
}

/** A detail's sentence, or why it could not be had; never throws. */
async function said(detail: ReadinessDetail['detail']): Promise<string | undefined> {
  try {
    return await detail();
  } catch (err) {
    return `could not tell: ${(err as Error).message}`;
  }
}

export async function listen(app: Express, port: number, host: string): Promise<http.Server> {
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** Stops accepting requests, then waits (up to `graceMs`) for handlers still answering. */
export async function closeServer(
  server: http.Server,
  app: Express,
  graceMs = 5_000,
): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
  const pending = unanswered(app);
  const deadline = Date.now() + graceMs;
  while (pending.size > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
