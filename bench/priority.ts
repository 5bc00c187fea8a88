/**
 * The benchmark's processes (its mariadbd and redis-server, the product, the stand-in
 * Singer and the load generator) run at a raised scheduling priority, so that other work on
 * a shared machine — a test suite, say — disturbs the figures less. It shifts CPU shares,
 * it does not add CPU: every process the measured system needs is raised alike.
 * `--no-priority` leaves priorities alone; without the right to raise them (not root, no
 * CAP_SYS_NICE) it says so once and carries on.
 */
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

export const BENCH_NICE = -5;
let enabled = true;
let warned = false;

export function configurePriority(on: boolean): void {
  enabled = on;
}

/** Raises every thread the process has now; threads it starts later inherit it. */
export function raisePriority(pid: number): void {
  if (!enabled) return;
  try {
    let tasks: number[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`).map(Number);
    } catch {
      tasks = [pid];
    }
    for (const tid of tasks) setPriority(tid, BENCH_NICE);
  } catch (err) {
    if (!warned) {
      warned = true;
      process.stderr.write(
        `[bench] cannot raise process priority (${(err as Error).message}); measuring at normal priority\n`,
      );
    }
  }
}

export function priorityNote(): string {
  return enabled && !warned
    ? `processes of the measured system at nice ${BENCH_NICE}`
    : 'normal priority';
}
