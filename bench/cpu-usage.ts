// Preloaded (`node --import`) into the processes the bench measures: at exit, the main thread
// writes the process's CPU time (every thread's, as getrusage counts it) where the bench asked.
import { writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

const file = process.env.KPI_MIGRATE_BENCH_CPU_FILE;
if (isMainThread && file !== undefined) {
  process.on('exit', () => {
    const { user, system } = process.cpuUsage();
    writeFileSync(file, JSON.stringify({ userMicros: user, systemMicros: system }));
  });
}
