/**
 * `push start`: runs the service until SIGTERM or SIGINT. The first signal drains
 * (stop claiming, finish in-flight pushes within SHUTDOWN_GRACE_MS, close everything) and
 * exits 0; a second signal exits at once.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { startService } from '../main.js';

export async function runStartCommand(config: Config, logger: Logger): Promise<void> {
  const { crashAt, crashSignal } = config;
  const service = await startService(config, {
    logger,
    checkpoint: crashAt
      ? (point) => {
          if (point === crashAt) process.kill(process.pid, crashSignal);
        }
      : undefined,
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    logger.info({ signal }, 'draining: no new claims, finishing in-flight pushes');
    service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
