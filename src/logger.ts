/**
 * One pino logger per process, JSON on stdout. Secrets never reach a log line: the Singer
 * token, dashboard password and credentials inside URLs are redacted.
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
    },
    destination,
  );
}
