import { CompletionBell } from '../doorbell/async-waiter.js';
import { nowNs } from '../doorbell/doorbell.js';
import { SpinGate } from '../doorbell/spin-gate.js';
import { ThreadBell } from '../doorbell/thread-bell.js';
import { WorkerWaiter } from '../doorbell/worker-waiter.js';
import { buildFleet } from '../fleet/expand.js';
import { MuxCtl, ThreadCtl } from './protocol.js';
import { ShardServer } from './shard-server.js';
import type { ThreadReport, ThreadTask } from './task.js';

/** one nap of an idle worker (ms): bounds the extra latency of a request that arrives during a nap */
const NAP_CHUNK_MS = 0.05;

/**
 * A worker thread's loop over the shards it serves: each shard with work gets a batch in turn (so one busy
 * shard cannot starve another of the thread), device timers run when due, and when no SQ has work the thread
 * spins (if the spin gate lets it), then sleeps on its one doorbell (ThreadBell), which the main thread rings
 * after publishing to any of its shards. Returns when the main thread sets STOP.
 */
export function serveThread(task: ThreadTask): ThreadReport {
  const muxWords = new Int32Array(task.mux);
  const ctl = new Int32Array(task.ctl);
  const mainBell = new CompletionBell(muxWords, MuxCtl.SEQ, MuxCtl.SLEEPING);
  const gate = new SpinGate(muxWords, MuxCtl.SPINNERS, task.maxSpinners, MuxCtl.WAKES);
  const bell = new ThreadBell(ctl, ThreadCtl.SEQ, ThreadCtl.SLEEPING);
  const waiter = new WorkerWaiter(bell, gate, { spinNs: task.spinNs, napNs: task.napNs, napChunkMs: NAP_CHUNK_MS });
  // The expanded fleet is needed only to build this thread's endpoints; nothing keeps the other shards' devices.
  const fleet = buildFleet(task.fleet, task.shardCount, task.slice);
  const shards = task.parts.map((p) => new ShardServer(p.shard, p, fleet, task.generation, mainBell, task.spinNs, gate));
  const hasWork = (): boolean => {
    for (let i = 0; i < shards.length; i++) if (shards[i]!.hasWork()) return true;
    return false;
  };
  const stop = (): boolean => Atomics.load(ctl, ThreadCtl.STOP) !== 0;
  let idleSince = nowNs();
  task.port.postMessage({ type: 'ready', thread: task.thread, generation: task.generation, devices: shards.reduce((n, s) => n + s.devices, 0) });

  for (;;) {
    const now = nowNs();
    let served = 0;
    let timers = false;
    let nextDeadline = Infinity;
    for (let i = 0; i < shards.length; i++) {
      const s = shards[i]!;
      served += s.serveBatch(now);
      if (s.runTimers(now)) timers = true;
      if (s.nextDeadline < nextDeadline) nextDeadline = s.nextDeadline;
    }
    if (served > 0) {
      idleSince = now;
      continue;
    }
    if (timers) continue;
    if (stop()) break;
    const waitMs = nextDeadline === Infinity ? Infinity : Math.max(0, (nextDeadline - nowNs()) / 1e6);
    waiter.wait(hasWork, idleSince, waitMs, stop);
    ctl[ThreadCtl.STAT_SLEEPS] = bell.sleeps;
  }
  let requests = 0;
  let batches = 0;
  for (const s of shards) {
    s.stop();
    requests += s.requests;
    batches += s.batches;
  }
  return { thread: task.thread, generation: task.generation, requests, batches, sleeps: bell.sleeps };
}
