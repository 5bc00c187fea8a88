/**
 * `push stub-singer`: the stand-in Singer as a process, for docker-compose and for trying
 * push without the real gateway. Accepts every push, logs one line each.
 */
import { startStubSinger } from '../singer/stub-singer.js';
import { UsageError } from '../plain-error.js';

export async function runStubSingerCommand(opts: { port: string; host: string }): Promise<void> {
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new UsageError(`--port ${opts.port} is not a port number`);
  }
  const stub = await startStubSinger({ port, host: opts.host });
  stub.onRequest((push) => {
    console.log(JSON.stringify({ key: push.idempotencyKey, ...push.body }));
  });
  console.log(`stand-in Singer listening on ${stub.url} (POST /push)`);
  const stop = () => void stub.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
