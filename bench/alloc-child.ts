/**
 * Bytes the main thread allocates per request, in a fresh process started with
 *   node --expose-gc --max-semi-space-size=M --min-semi-space-size=M alloc-child.js '{"api":"submit","requests":200000}'
 * The young generation is made larger than everything the measured requests allocate, so no collection runs
 * while they do: V8's used-heap figure after them minus the one before (each after forced full GCs) is what they
 * allocated, garbage included. The process checks that no GC ran meanwhile (perf_hooks 'gc' entries) and prints
 * one JSON line. Kinds:
 *   submit  session.submit() pipelined by callback-driven callers (which allocate nothing themselves)
 *   send    session.send() awaited by async callers (`await s.send(req)` in a loop)
 *   driver  the same async callers awaiting an already-resolved promise instead of send(): what the callers'
 *           own `await` costs, to subtract from `send`
 *   floor   what send() cannot avoid, each measured alone: a Promise with its resolving functions, an owned
 *           18-byte payload (a Uint8Array with an ArrayBuffer exactly its size), a result object
 */
import v8 from 'node:v8';
import { PerformanceObserver } from 'node:perf_hooks';
import { createMux, type SendRequest, type Session } from '../src/index.js';
import { childMain } from './fresh-process.js';

export interface AllocJob {
  api: 'submit' | 'send' | 'driver' | 'floor';
  requests: number;
  /** requests in flight */
  concurrency: number;
  devices: number;
}

export interface AllocRow {
  api: AllocJob['api'];
  requests: number;
  concurrency: number;
  /** bytes allocated on the main thread's V8 heap per request (garbage included) */
  bytesPerRequest: number;
  /** what was still reachable afterwards per request (after a full GC): a leak shows here */
  retainedPerRequest: number;
  /** GCs that ran while the requests did (0: the figure is exact) */
  gcsDuring: number;
  /** requests per second during the measured run (no GC in it: an upper bound) */
  rate: number;
  /** floor only: bytes of each part */
  parts?: Record<string, number>;
}

function submitLoop(s: Session, reqs: SendRequest[], n: number, concurrency: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let done = 0;
    class Caller {
      private readonly onDone = (err: Error | null): void => {
        if (err !== null) return reject(err);
        done++;
        if (sent < n) this.go();
        else if (done === n) resolve();
      };

      go(): void {
        s.submit(reqs[sent++ % reqs.length]!, this.onDone);
      }
    }
    for (let i = 0; i < Math.min(concurrency, n); i++) new Caller().go();
  });
}

async function awaitLoop(next: (i: number) => Promise<unknown>, n: number, concurrency: number): Promise<void> {
  let sent = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (sent < n) await next(sent++);
  }));
}

let gcs = 0;
new PerformanceObserver((l) => void (gcs += l.getEntries().length)).observe({ entryTypes: ['gc'] });

const gc = (globalThis as { gc?: () => void }).gc;

/** Heap bytes `body` allocates, with full GCs before and after. */
async function measure(body: () => Promise<void> | void, n: number): Promise<{ bytes: number; retained: number; gcsDuring: number; ms: number }> {
  gc!();
  gc!();
  await new Promise((r) => setTimeout(r, 20)); // the forced GCs' entries arrive first
  const g0 = gcs;
  const before = v8.getHeapStatistics().used_heap_size;
  const t0 = performance.now();
  await body();
  const ms = performance.now() - t0;
  const after = v8.getHeapStatistics().used_heap_size;
  await new Promise((r) => setImmediate(r));
  const gcsDuring = gcs - g0;
  gc!();
  gc!();
  const retained = v8.getHeapStatistics().used_heap_size - before;
  return { bytes: (after - before) / n, retained: retained / n, gcsDuring, ms };
}

/** The floor parts, each allocated `n` times and kept alive in a small ring so none is optimized away. */
function floorParts(n: number): Promise<Record<string, number>> {
  const keep: unknown[] = new Array(64).fill(null);
  const src = new Uint8Array(64);
  let capture: unknown = null;
  const executor = (resolve: unknown): void => void (capture = resolve);
  const parts: Record<string, () => void> = {
    'promise + resolving functions': () => {
      for (let i = 0; i < n; i++) keep[i & 63] = new Promise(executor);
    },
    'owned 18-byte payload': () => {
      for (let i = 0; i < n; i++) keep[i & 63] = src.slice(0, 18);
    },
    'result object': () => {
      for (let i = 0; i < n; i++) keep[i & 63] = { rc: i & 1, payload: src, vendorStatus: 0, background: false };
    },
  };
  return (async () => {
    const out: Record<string, number> = {};
    for (const [k, f] of Object.entries(parts)) {
      f(); // warm up (optimize) first
      out[k] = (await measure(f, n)).bytes;
    }
    void capture;
    return out;
  })();
}

childMain(async (job: AllocJob): Promise<AllocRow> => {
  if (gc === undefined) throw new Error('run with --expose-gc');
  if (job.api === 'floor') {
    const parts = await floorParts(job.requests);
    const bytes = Object.values(parts).reduce((a, b) => a + b, 0);
    return { api: 'floor', requests: job.requests, concurrency: 0, bytesPerRequest: bytes, retainedPerRequest: 0, gcsDuring: 0, rate: NaN, parts };
  }
  const mux = await createMux({ fleet: { 'cxl-type3': job.devices } });
  try {
    const s = mux.openSession();
    const reqs: SendRequest[] = mux.devices().map((d) => ({ device: d.id, opcode: 0x4200 })); // Get Health Info: 18-byte answers
    const resolved = Promise.resolve({ rc: 0 });
    const run = (n: number): Promise<void> => {
      if (job.api === 'submit') return submitLoop(s, reqs, n, job.concurrency);
      if (job.api === 'send') return awaitLoop((i) => s.send(reqs[i % reqs.length]!), n, job.concurrency);
      return awaitLoop(() => resolved, n, job.concurrency);
    };
    // warm up: every path optimized, the record pool and the rings' pages in use
    await run(Math.max(100_000, job.requests / 2));
    await run(Math.max(100_000, job.requests / 2));
    const m = await measure(() => run(job.requests), job.requests);
    return {
      api: job.api, requests: job.requests, concurrency: job.concurrency, bytesPerRequest: m.bytes, retainedPerRequest: m.retained,
      gcsDuring: m.gcsDuring, rate: (job.requests * 1000) / m.ms,
    };
  } finally {
    await mux.close();
  }
});
