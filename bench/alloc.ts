/**
 * Bytes allocated per request on the main thread, for submit() and send(), each in a fresh process with the GC
 * kept out of the measured run (see alloc-child.ts). send()'s own figure is its callers' loop minus the same loop
 * awaiting a resolved promise (what `await` costs the caller); the floor row is what a promise-returning API
 * with bytes of its own per answer cannot avoid.
 */
import { inFreshProcess } from './fresh-process.js';
import type { AllocJob, AllocRow } from './alloc-child.js';
import { figure } from './figures.js';
import { type BenchContext, type Section } from './section.js';
import { num, si } from './stats.js';

const CHILD = new URL('./alloc-child.js', import.meta.url).pathname;
/** larger than what the measured requests allocate, so no scavenge runs during them */
const SEMI_SPACE_MB = 512;
const CONCURRENCY = 64;

export interface AllocData {
  requests: number;
  concurrency: number;
  rows: AllocRow[];
  /** per request: submit(), send() as its callers see it, the callers' await alone, send() itself */
  submitBytes: number;
  sendBytes: number;
  driverBytes: number;
  sendOwnBytes: number;
  /** the parts no promise API with owned answer bytes avoids, and their sum */
  floorParts: Record<string, number>;
  floorBytes: number;
}

async function child(job: AllocJob): Promise<AllocRow> {
  return inFreshProcess<AllocRow>(CHILD, job, {
    nodeArgs: ['--expose-gc', `--max-semi-space-size=${SEMI_SPACE_MB}`, `--min-semi-space-size=${SEMI_SPACE_MB}`], timeoutMs: 300_000,
  });
}

export const allocSection: Section = {
  id: 'alloc',
  title: 'Bytes allocated per request (main thread)',
  async run(ctx: BenchContext) {
    const requests = ctx.quick ? 100_000 : 200_000;
    const rows: AllocRow[] = [];
    for (const api of ['submit', 'send', 'driver', 'floor'] as const) {
      ctx.log(`alloc: ${api}, ${num(requests)} requests (fresh process, GC kept out of the run)`);
      rows.push(await child({ api, requests, concurrency: CONCURRENCY, devices: 1024 }));
    }
    const by = (api: AllocJob['api']): AllocRow => rows.find((r) => r.api === api)!;
    for (const r of rows) if (r.gcsDuring > 0) throw new Error(`alloc: ${r.gcsDuring} GC(s) ran during the ${r.api} run; raise SEMI_SPACE_MB`);
    const data: AllocData = {
      requests, concurrency: CONCURRENCY, rows,
      submitBytes: by('submit').bytesPerRequest,
      sendBytes: by('send').bytesPerRequest,
      driverBytes: by('driver').bytesPerRequest,
      sendOwnBytes: by('send').bytesPerRequest - by('driver').bytesPerRequest,
      floorParts: by('floor').parts ?? {},
      floorBytes: by('floor').bytesPerRequest,
    };
    const b = (x: number): string => `${x.toFixed(0)} B`;
    return {
      // each figure is one fresh process's measurement over every request of its run
      figures: [
        figure('heap allocated per request, submit()', 'B', 'lower', [data.submitBytes]),
        figure('heap allocated per request, send() with its caller\'s await', 'B', 'lower', [data.sendBytes]),
        figure('heap allocated per request, send() itself', 'B', 'lower', [data.sendOwnBytes]),
        figure('pipelined submit() with no GC in the run', 'req/s', 'higher', [by('submit').rate]),
      ],
      tables: [{
        title: `Main-thread heap allocated per request (${num(requests)} Get Health Info requests, 18-byte answers, ${CONCURRENCY} in flight, 1024 type-3; each row a fresh process)`,
        head: ['what', 'per request', 'retained after', 'req/s (no GC)'],
        rows: [
          ['submit(): callback callers', b(data.submitBytes), b(by('submit').retainedPerRequest), si(by('submit').rate)],
          ['send(): `await s.send(req)` callers', b(data.sendBytes), b(by('send').retainedPerRequest), si(by('send').rate)],
          ['  the callers\' own `await` (a resolved promise instead)', b(data.driverBytes), '-', '-'],
          ['  send() itself (the difference)', b(data.sendOwnBytes), '-', '-'],
          ...Object.entries(data.floorParts).map(([k, v]) => [`  floor: ${k}`, b(v), '-', '-']),
          ['  floor of a promise API with answers of their own', b(data.floorBytes), '-', '-'],
        ],
        note: `V8 used-heap bytes after the run minus before it (full GCs before, and no GC during it: young generation ${SEMI_SPACE_MB} MiB), divided by the requests; garbage included\n`
          + 'send() must give each answer bytes of its own (an ArrayBuffer exactly its size) and a promise: the floor rows measure those alone, the same way',
      }],
      data: data as unknown as Record<string, unknown>,
    };
  },
};
