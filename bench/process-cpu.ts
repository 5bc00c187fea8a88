/**
 * CPU time a process has used so far (user + system, all its threads), from
 * /proc/<pid>/stat: what the product costs, measured from outside so the load generator
 * and the stand-in Singer are not counted. Resolution is one clock tick (10 ms).
 */
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // getconf CLK_TCK on Linux

export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after its closing ')' do not.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, so 11 and 12 after the name.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / TICKS_PER_SECOND;
}

/** Sum over several processes; a process that has exited counts as 0. */
export function totalCpuMs(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += processCpuMs(pid);
    } catch {
      // exited
    }
  }
  return total;
}
