/**
 * The most memory a process has held so far (VmHWM of /proc/<pid>/status: its resident set's
 * high-water mark), in MiB: what a container's memory request must cover. Measured from
 * outside, like its CPU (process-cpu.ts).
 */
import { readFileSync } from 'node:fs';

export function peakRssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
    return kib === undefined ? Number.NaN : Number(kib) / 1024;
  } catch {
    return Number.NaN; // exited
  }
}
