/**
 * The environment of a run, and how busy the machine was with OTHER work while it ran: on a shared 2-core VM
 * a parallel test run halves what any benchmark measures, so every section reports the share of the machine's
 * CPU time used by processes other than this one (and its waited-for children, the scaling rows).
 * Linux: /proc/stat (all CPUs) minus /proc/self/stat (this process, every thread, plus reaped children).
 */
import { readFileSync } from 'node:fs';
import { arch, availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';

export interface Environment {
  node: string;
  v8: string;
  platform: string;
  cpuModel: string;
  cpus: number;
  availableParallelism: number;
  memoryGiB: number;
  date: string;
  /** 1, 5, 15 minute load averages when the run started */
  loadAverage: number[];
}

export function environment(): Environment {
  const list = cpus();
  return {
    node: process.version, v8: process.versions.v8, platform: `${process.platform} ${arch()} ${release()}`,
    cpuModel: list[0]?.model.trim() ?? 'unknown', cpus: list.length, availableParallelism: availableParallelism(),
    memoryGiB: totalmem() / 1024 ** 3, date: new Date().toISOString(), loadAverage: loadavg(),
  };
}

interface CpuSample {
  /** ticks of all CPUs: busy and total */
  busy: number;
  total: number;
  /** ticks used by this process and its reaped children */
  ours: number;
}

function sample(): CpuSample | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    const busy = user + nice + system + irq + softirq + steal;
    const self = readFileSync('/proc/self/stat', 'utf8');
    // fields after the parenthesized command name: utime is field 14, stime 15, cutime 16, cstime 17
    const rest = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number);
    const ours = rest[11]! + rest[12]! + rest[13]! + rest[14]!;
    return { busy, total: busy + idle + iowait, ours };
  } catch {
    return null;
  }
}

/** A section measured while other processes used more than this share of the CPUs gets a warning (the run, and --compare). */
export const FOREIGN_WARN_PCT = 10;

/** Measures other processes' share of the machine's CPU between start() and stop(). */
export class ForeignCpu {
  private s0: CpuSample | null = sample();

  /** Percent of all CPUs' time used by other processes since construction; null where not measurable. */
  stop(): number | null {
    const s1 = sample();
    if (this.s0 === null || s1 === null) return null;
    const total = s1.total - this.s0.total;
    if (total <= 0) return null;
    const foreign = s1.busy - this.s0.busy - (s1.ours - this.s0.ours);
    return Math.max(0, (foreign / total) * 100);
  }
}

export interface GcPauses {
  /** garbage-collection pauses of this thread (the main thread) while recording */
  count: number;
  perSecond: number;
  /** share of the wall time spent paused, percent */
  percent: number;
  maxMs: number;
}

/** Records the main thread's GC pauses (perf_hooks 'gc' entries) between construction and stop(). */
export class GcRecorder {
  private count = 0;
  private totalMs = 0;
  private maxMs = 0;
  private readonly t0 = performance.now();
  private readonly obs = new PerformanceObserver((list) => this.take(list.getEntries()));

  constructor() {
    this.obs.observe({ entryTypes: ['gc'] });
  }

  private take(entries: readonly { duration: number }[]): void {
    for (const e of entries) {
      this.count++;
      this.totalMs += e.duration;
      if (e.duration > this.maxMs) this.maxMs = e.duration;
    }
  }

  stop(): GcPauses {
    this.take(this.obs.takeRecords());
    this.obs.disconnect();
    const ms = Math.max(1e-3, performance.now() - this.t0);
    return { count: this.count, perSecond: (this.count * 1000) / ms, percent: (this.totalMs / ms) * 100, maxMs: this.maxMs };
  }
}
