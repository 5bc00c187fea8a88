#!/usr/bin/env node
/**
 * `push <command>`: the one entry point for operators, npm scripts and the Docker image.
 * Problems a person must fix (configuration, an unreachable server, a refused migration)
 * print as one plain message without a stack trace, and exit 1.
 */
import { Command } from 'commander';
import { packageVersion } from './package-root.js';
import { loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { PlainError } from './plain-error.js';
import { runMigrateCommand, type MigrateCommandOptions } from './commands/migrate-command.js';
import { runStartCommand } from './commands/start-command.js';
import { runDemoCommand } from './commands/demo-command.js';
import { runStubSingerCommand } from './commands/stub-singer-command.js';
import { runDlqListCommand, runDlqReplayCommand } from './commands/dlq-command.js';
import { runDoctorCommand } from './commands/doctor-command.js';
import { runSimulateCommand } from './commands/simulate-command.js';
import { runTraceCommand } from './commands/trace-command.js';

const program = new Command()
  .name('push')
  .description('Order status changes in MySQL → pushes through Singer (see README.md)')
  .version(packageVersion())
  .showHelpAfterError();

program
  .command('migrate')
  .description('create or update the outbox table and the orders trigger (idempotent)')
  .option('--down', 'remove everything push added (refuses while events are unfinished)')
  .option('--force', 'with --down: remove it even with unfinished events in the outbox')
  .option(
    '--print-sql',
    'print the statements it would run (a script for the mysql client), run none',
  )
  .action((opts: MigrateCommandOptions) => runMigrateCommand(loadConfig(), opts));

program
  .command('start')
  .description('run the poller, the delivery workers and the HTTP server (ROLES picks some)')
  .action(async () => {
    const config = loadConfig();
    await runStartCommand(config, createLogger(config.logLevel));
  });

program
  .command('demo')
  .description('walk a few orders through their life against a built-in stand-in Singer')
  .option('--keep-running', 'keep the service and stand-in Singer running after the walk-through')
  .action((opts: { keepRunning?: boolean }) => runDemoCommand(opts));

program
  .command('stub-singer')
  .description('run a stand-in Singer that accepts every push (for trying push locally)')
  .option('--port <port>', 'port to listen on', '8090')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .action((opts: { port: string; host: string }) => runStubSingerCommand(opts));

const dlq = program.command('dlq').description('dead-lettered pushes');
dlq
  .command('list')
  .description('list dead-lettered pushes')
  .option('--json', 'one JSON document, for scripts')
  .action((opts: { json?: boolean }) => runDlqListCommand(loadConfig(), opts));
dlq
  .command('replay')
  .description('send dead-lettered pushes again, with their original idempotency keys')
  .argument('[eventIds...]', 'event ids whose pushes to replay')
  .option('--all', 'replay every dead-lettered push')
  .action((eventIds: string[], opts: { all?: boolean }) =>
    runDlqReplayCommand(loadConfig(), eventIds, opts),
  );

program
  .command('doctor')
  .description('check MySQL, grants, trigger, outbox, Redis and Singer; exits 1 on a failure')
  .option('--json', 'one JSON document, for scripts')
  .action((opts: { json?: boolean }) => runDoctorCommand(loadConfig(), opts));

program
  .command('simulate')
  .description('show which scenarios a status change fires and their pushes, sending nothing')
  .requiredOption('--from <status>', 'the status before the change')
  .requiredOption('--to <status>', 'the status after the change')
  .option('--reason <reason>', 'the new status_reason')
  .option('--order <id>', "use this order's patient and nurse (read from the database)")
  .action((opts: { from: string; to: string; reason?: string; order?: string }) =>
    runSimulateCommand(loadConfig(), opts),
  );

program
  .command('trace')
  .description("one order's events, pushes and delivery attempts: did the patient get told?")
  .argument('<orderId>', 'the order id')
  .option('--json', 'one JSON document, for scripts')
  .action((orderId: string, opts: { json?: boolean }) =>
    runTraceCommand(loadConfig(), orderId, opts),
  );

program.parseAsync(process.argv).catch((err: unknown) => {
  const shown =
    err instanceof PlainError
      ? err.message
      : err instanceof Error
        ? (err.stack ?? err.message)
        : String(err);
  process.stderr.write(`push: ${shown}\n`);
  process.exit(1);
});
