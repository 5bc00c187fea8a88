/**
 * The operations HTTP server: /healthz (the process is up), /readyz (MySQL and Redis
 * answer and this process's loops are running; 503 otherwise, with why), and whatever
 * else the composition root mounts (metrics, the dashboard).
 */
import http from 'node:http';
import express, { type Express } from 'express';

export interface ReadinessCheck {
  name: string;
  /** Resolves with nothing when ready, or a short sentence saying what is wrong. */
  check(): Promise<string | undefined>;
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

export function createHttpApp(checks: ReadinessCheck[]): Express {
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
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const results = await Promise.all(
      checks.map(async ({ name, check }) => {
        try {
          return [name, (await withTimeout(check(), 2_000)) ?? 'ok'] as const;
        } catch (err) {
          return [name, (err as Error).message] as const;
        }
      }),
    );
    const ready = results.every(([, verdict]) => verdict === 'ok');
    res
      .status(ready ? 200 : 503)
      .json({ status: ready ? 'ready' : 'not ready', checks: Object.fromEntries(results) });
  });
  return app;
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

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref(),
    ),
  ]);
}
