/**
 * One pino logger per process, JSON on stdout. Secrets never reach a log line: the Singer
 * token, dashboard password and credentials inside URLs are redacted, and so are the
 * arguments of the Redis command an error came from (see withoutCommandArguments).
 */
import { pino, type Logger } from 'pino';

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'push' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'singerToken',
          'config.singerToken',
          'config.dashboard.password',
          'headers.authorization',
          '*.headers.authorization',
          'password',
        ],
        censor: '***',
      },
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: (err: Error) => pino.stdSerializers.err(withoutCommandArguments(err)) },
    },
    destination,
  );
}

/**
 * ioredis attaches the failed command to a reply error (`err.command = { name, args }`), and
 * when AUTH fails it rejects every queued command with that same error: its args are the
 * user and password. A job's command carries the push itself. Only the name is kept.
 */
export function withoutCommandArguments<E>(err: E): E {
  const command = (err as { command?: { name?: unknown; args?: unknown } } | null)?.command;
  if (!command || typeof command !== 'object' || !('args' in command)) return err;
  const copy = Object.create(Object.getPrototypeOf(err) as object) as E;
  Object.defineProperties(copy, Object.getOwnPropertyDescriptors(err));
  (copy as { command: unknown }).command = { name: command.name };
  return copy;
}
