import { MessageChannel, type ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { WorkerLostError } from '../errors.js';
import type { FleetInput } from '../fleet/types.js';
import type { ShardReport, ShardTask } from '../shard/shard-server.js';
import { Channels } from './diagnostics.js';
import type { CompletionPoller } from './poller.js';
import type { ShardScheduler } from './scheduler.js';
import type { ShardLink } from './shard-link.js';
import type { Tally } from './tally.js';

const WORKER_FILE = new URL('../../workers/shard.js', import.meta.url);

export interface SupervisorSettings {
  workers: number;
  resourceLimits: ResourceLimits | undefined;
  maxRestarts: number;
  restartWindowMs: number;
  spinNs: number;
  maxSpinners: number;
  napNs: number;
}

export interface WorkerLostInfo {
  shard: number;
  generation: number;
  error: string;
  lost: number;
}

/** What the supervisor reports to the mux (which re-emits it as events). */
export interface SupervisorEvents {
  lost(info: WorkerLostInfo): void;
  restarted(info: { shard: number; generation: number }): void;
}

/**
 * Runs the shard workers (one long-lived piscina task per shard) and keeps them running: launches each, and
 * when a task dies, delivers what the worker published, fails what it held exactly once (EMBX_WORKER_LOST),
 * and restarts it on fresh rings unless it died more than maxRestarts times in restartWindowMs (then the shard
 * is dead and what waits for it fails).
 */
export class ShardSupervisor {
  private readonly pool: Piscina;
  private readonly tasks: (Promise<void> | null)[];
  /** restart times per shard (ms), within the window */
  private readonly restarts: number[][];

  constructor(
    private readonly links: readonly ShardLink[],
    private readonly scheds: readonly ShardScheduler[],
    private readonly poller: CompletionPoller,
    private readonly tally: Tally,
    private readonly fleet: FleetInput | undefined,
    private readonly muxBuf: SharedArrayBuffer,
    private readonly s: SupervisorSettings,
    private readonly events: SupervisorEvents,
  ) {
    this.tasks = links.map(() => null);
    this.restarts = links.map(() => []);
    this.pool = new Piscina({
      filename: WORKER_FILE.href,
      minThreads: s.workers,
      maxThreads: s.workers,
      concurrentTasksPerWorker: 1,
      idleTimeout: Infinity,
      maxQueue: Infinity,
      ...(s.resourceLimits ? { resourceLimits: s.resourceLimits } : {}),
    });
  }

  /** Launches every shard; each promise resolves when its worker serves its rings. */
  startAll(): Promise<void>[] {
    return this.links.map((_, i) => this.launch(i));
  }

  /** Runs (or re-runs) the shard's long-lived piscina task; resolves when the worker reports ready. */
  private launch(i: number): Promise<void> {
    const link = this.links[i]!;
    const { port1, port2 } = new MessageChannel();
    const task: ShardTask = {
      shard: link.index,
      shards: this.links.length,
      generation: link.generation,
      fleet: this.fleet,
      sq: link.sqBuf,
      cq: link.cqBuf,
      ctl: link.ctlBuf,
      mux: this.muxBuf,
      arena: link.arena,
      port: port2,
      spinNs: this.s.spinNs,
      maxSpinners: this.s.maxSpinners,
      napNs: this.s.napNs,
    };
    const ready = new Promise<void>((resolve, reject) => {
      port1.on('message', (m: { type: string }) => {
        if (m.type === 'ready') {
          link.status = 'ready';
          resolve();
          this.poller.shardReady(this.scheds[i]!);
        }
      });
      this.tasks[i] = this.pool.run(task, { transferList: [port2] }).then(
        (_report: ShardReport) => {
          port1.close();
          this.taskEnded(i, null);
        },
        (err: unknown) => {
          port1.close();
          reject(err);
          this.taskEnded(i, err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
    ready.catch(() => {});
    return ready;
  }

  /** A shard task returned or died. Unless we asked it to stop, every request it held fails exactly once. */
  private taskEnded(i: number, err: Error | null): void {
    const link = this.links[i]!;
    const sched = this.scheds[i]!;
    const tally = this.tally;
    if (tally.closed || (tally.closing && err === null)) {
      link.status = 'stopped';
      return;
    }
    // Nothing may be written to the dead worker's rings from here on (freeing slots unparks requests).
    link.status = 'restarting';
    // Completions the worker published before it died are real answers: deliver them first.
    sched.drain();
    const reason = err?.message ?? 'the shard task returned unexpectedly';
    const lost = sched.failHeld(reason);
    const now = Date.now();
    const restarts = (this.restarts[i] = this.restarts[i]!.filter((t) => now - t < this.s.restartWindowMs));
    const lostInfo: WorkerLostInfo = { shard: link.index, generation: link.generation, error: reason, lost };
    this.events.lost(lostInfo);
    Channels.workerLost.publish(lostInfo);
    if (tally.closing || restarts.length >= this.s.maxRestarts) {
      link.status = 'dead';
      sched.failWaiting(new WorkerLostError(
        tally.closing ? `shard ${link.index} died while the mux was closing`
          : `shard ${link.index} died ${restarts.length + 1} times within ${this.s.restartWindowMs} ms and will not be restarted: ${reason}`,
        { shard: link.index }));
      tally.checkDrained();
      return;
    }
    restarts.push(now);
    link.generation++;
    link.status = 'restarting';
    link.freshRings();
    this.launch(i).then(
      () => {
        const info = { shard: link.index, generation: link.generation };
        this.events.restarted(info);
        Channels.workerRestarted.publish(info);
      },
      () => {},
    );
    tally.checkDrained();
  }

  /** Asks every worker to return from its task and waits until each has. */
  async stopAll(): Promise<void> {
    for (const link of this.links) link.requestStop();
    await Promise.allSettled(this.tasks);
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
