import { MessageChannel, type ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { WorkerLostError } from '../errors.js';
import type { FleetInput, FleetSlice } from '../fleet/types.js';
import type { ThreadReport, ThreadTask } from '../shard/task.js';
import { Channels } from './diagnostics.js';
import type { CompletionPoller } from './poller.js';
import type { ShardScheduler } from './scheduler.js';
import type { ThreadLink } from './shard-link.js';
import type { Tally } from './tally.js';

const WORKER_FILE = new URL('../../workers/thread.js', import.meta.url);

export interface SupervisorSettings {
  threads: number;
  resourceLimits: ResourceLimits | undefined;
  maxRestarts: number;
  restartWindowMs: number;
  spinNs: number;
  maxSpinners: number;
  napNs: number;
}

export interface WorkerLostInfo {
  shard: number;
  /** the worker thread that served the shard (and died with every shard it served) */
  thread: number;
  generation: number;
  error: string;
  lost: number;
}

/** What the supervisor reports to the mux (which re-emits it as events). */
export interface SupervisorEvents {
  lost(info: WorkerLostInfo): void;
  restarted(info: { shard: number; thread: number; generation: number }): void;
}

/**
 * Runs the worker threads (one long-lived piscina task per thread, serving its shards) and keeps them running:
 * launches each, and when a task dies, delivers what its shards published, fails what they held exactly once
 * each (EMBX_WORKER_LOST), and restarts the thread with fresh rings for all of its shards, unless it died more
 * than maxRestarts times in restartWindowMs (then its shards are dead and what waits for them fails).
 */
export class ShardSupervisor {
  private readonly pool: Piscina;
  private readonly tasks: (Promise<void> | null)[];

  constructor(
    private readonly threads: readonly ThreadLink[],
    /** by shard index */
    private readonly scheds: readonly ShardScheduler[],
    private readonly poller: CompletionPoller,
    private readonly tally: Tally,
    private readonly fleet: FleetInput | undefined,
    private readonly slice: FleetSlice | undefined,
    private readonly muxBuf: SharedArrayBuffer,
    private readonly s: SupervisorSettings,
    private readonly events: SupervisorEvents,
  ) {
    this.tasks = threads.map(() => null);
    this.pool = new Piscina({
      filename: WORKER_FILE.href,
      minThreads: threads.length,
      maxThreads: threads.length,
      concurrentTasksPerWorker: 1,
      idleTimeout: Infinity,
      maxQueue: Infinity,
      ...(s.resourceLimits ? { resourceLimits: s.resourceLimits } : {}),
    });
  }

  /** Launches every thread; each promise resolves when the thread serves its shards' rings. */
  startAll(): Promise<void>[] {
    return this.threads.map((t) => this.launch(t));
  }

  /** Runs (or re-runs) the thread's long-lived piscina task; resolves when the worker reports ready. */
  private launch(t: ThreadLink): Promise<void> {
    const { port1, port2 } = new MessageChannel();
    const task: ThreadTask = {
      thread: t.index,
      shardCount: this.scheds.length,
      parts: t.shards.map((l) => ({ shard: l.index, sq: l.sqBuf, cq: l.cqBuf, ctl: l.ctlBuf, arena: l.arena })),
      generation: t.generation,
      fleet: this.fleet,
      slice: this.slice,
      ctl: t.ctlBuf,
      mux: this.muxBuf,
      port: port2,
      spinNs: this.s.spinNs,
      maxSpinners: this.s.maxSpinners,
      napNs: this.s.napNs,
    };
    const ready = new Promise<void>((resolve, reject) => {
      port1.on('message', (m: { type: string }) => {
        if (m.type !== 'ready') return;
        for (const l of t.shards) l.status = 'ready';
        resolve();
        for (const l of t.shards) this.poller.shardReady(this.scheds[l.index]!);
      });
      this.tasks[t.index] = this.pool.run(task, { transferList: [port2] }).then(
        (_report: ThreadReport) => {
          port1.close();
          this.taskEnded(t, null);
        },
        (err: unknown) => {
          port1.close();
          reject(err);
          this.taskEnded(t, err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
    ready.catch(() => {});
    return ready;
  }

  /**
   * A thread's task returned or died. Unless we asked it to stop, every request its shards held fails exactly
   * once, and the thread restarts (or, past maxRestarts, its shards are dead).
   */
  private taskEnded(t: ThreadLink, err: Error | null): void {
    const tally = this.tally;
    if (tally.closed || (tally.closing && err === null)) {
      for (const l of t.shards) l.status = 'stopped';
      return;
    }
    const reason = err?.message ?? 'the worker task returned unexpectedly';
    // Nothing may be written to the dead worker's rings from here on (freeing slots unparks requests).
    for (const l of t.shards) l.status = 'restarting';
    const now = Date.now();
    t.restarts = t.restarts.filter((x) => now - x < this.s.restartWindowMs);
    const dead = tally.closing || t.restarts.length >= this.s.maxRestarts;
    for (const l of t.shards) {
      const sched = this.scheds[l.index]!;
      // Completions the worker published before it died are real answers: deliver them first.
      sched.drain();
      const lost = sched.failHeld(reason);
      const info: WorkerLostInfo = { shard: l.index, thread: t.index, generation: l.generation, error: reason, lost };
      this.events.lost(info);
      Channels.workerLost.publish(info);
      if (dead) {
        l.status = 'dead';
        sched.failWaiting(new WorkerLostError(
          tally.closing ? `shard ${l.index} died while the mux was closing`
            : `the worker thread serving shard ${l.index} died ${t.restarts.length + 1} times within ${this.s.restartWindowMs} ms and will not be restarted: ${reason}`,
          { shard: l.index }));
      }
    }
    if (dead) {
      tally.checkDrained();
      return;
    }
    t.restarts.push(now);
    t.generation++;
    for (const l of t.shards) l.generation++;
    t.fresh();
    this.launch(t).then(
      () => {
        for (const l of t.shards) {
          const info = { shard: l.index, thread: t.index, generation: l.generation };
          this.events.restarted(info);
          Channels.workerRestarted.publish(info);
        }
      },
      () => {},
    );
    tally.checkDrained();
  }

  /** Asks every thread to return from its task and waits until each has. */
  async stopAll(): Promise<void> {
    for (const t of this.threads) t.requestStop();
    await Promise.allSettled(this.tasks);
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
