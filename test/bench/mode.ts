// How big a benchmark run is. `npm run bench -- --quick` (what CI runs after the tests) sets SKIFF_BENCH_QUICK=1:
// small sizes and one run each, so every benchmark is exercised in minutes and a broken part fails CI. Its figures
// are printed like the full run's but are noisier; the closing notes quote full runs.
export const QUICK = process.env['SKIFF_BENCH_QUICK'] === '1';

/** `full` normally, `quick` under --quick. */
export const sized = <T>(full: T, quick: T): T => (QUICK ? quick : full);
