/**
 * One clock for every process of the benchmark: CLOCK_MONOTONIC (process.hrtime), which
 * Linux shares across processes, so a commit time taken here and a receipt time taken in
 * the stand-in Singer's process can be subtracted. In milliseconds, with sub-ms precision.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
