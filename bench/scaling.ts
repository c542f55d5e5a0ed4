/**
 * Scaling tables: fleet size (each row in a fresh process: start time, RSS, pipelined throughput), worker
 * count, and payload size (Set LSA / Get LSA through a 1 MiB mailbox).
 */
import { availableParallelism } from 'node:os';
import { inFreshProcess } from './fresh-process.js';
import { createMux } from '../src/index.js';
import { defaultShards, defaultThreads } from '../src/mux/options.js';
import { payloadAreaFor } from '../src/mux/shard-link.js';
import type { ScaleJob, ScaleRow } from './scale-child.js';
import { type Figure, figure } from './figures.js';
import { type BenchContext, dur, type Section, threadsOf } from './section.js';
import { bandwidth, bytes, num, si, sig } from './stats.js';
import { closedLoopSeries } from './timing.js';

const CHILD = new URL('./scale-child.js', import.meta.url).pathname;
async function child(job: ScaleJob): Promise<ScaleRow> {
  return inFreshProcess<ScaleRow>(CHILD, job);
}

export const scaleDevicesSection: Section = {
  id: 'scale.devices',
  title: 'Scaling: fleet size',
  async run(ctx: BenchContext) {
    const sizes = [1, 100, 10_000];
    const withBig = !ctx.quick || ctx.full;
    if (withBig) sizes.push(100_000);
    const rows: (string | number)[][] = [];
    const out: ScaleRow[] = [];
    let base = 0;
    for (const devices of sizes) {
      ctx.log(`scale.devices: ${num(devices)} devices (fresh process)`);
      const r = await child({ devices, workers: ctx.workers, ms: dur(ctx, 1000, 250), warmMs: dur(ctx, 300, 100), concurrency: ctx.concurrency });
      if (r.devices !== devices) throw new Error(`scale.devices: the child ran ${r.devices} devices, not ${devices}`);
      if (base === 0) base = r.opsPerSec;
      out.push(r);
      rows.push([num(devices), r.startMs / 1000, num(r.rssBeforeMB), num(r.rssStartMB), num(r.rssAfterLoadMB), si(r.opsPerSec), sig(r.opsPerSec / base)]);
    }
    // start time and memory: one fresh process per row; throughput: the windows of its run
    const figures = out.flatMap((r) => [
      figure(`${num(r.devices)} devices: start`, 's', 'lower', [r.startMs / 1000]),
      figure(`${num(r.devices)} devices: RSS after start`, 'MiB', 'lower', [r.rssStartMB]),
      figure(`${num(r.devices)} devices: RSS after the load`, 'MiB', 'lower', [r.rssAfterLoadMB]),
      figure(`${num(r.devices)} devices: pipelined`, 'req/s', 'higher', r.opsWindows),
    ]);
    return {
      figures,
      tables: [{
        title: `Fleet size (type-3 devices, ${threadsOf(ctx)} worker threads, Get Health Info spread over every device, ${ctx.concurrency} in flight)`,
        head: ['devices', 'start s', 'RSS before MB', 'RSS after start MB', 'RSS after load MB', 'ops/s', 'vs 1 device'],
        rows,
        note: `each row is a fresh process; start = createMux() including enumeration of every device; RSS is the whole process (workers included), MB = 2^20 B${withBig ? '' : '\nthe 100,000-device row is skipped in --quick runs (add --full)'}`,
      }],
      data: { rows: out },
    };
  },
};

export const scaleWorkersSection: Section = {
  id: 'scale.workers',
  title: 'Scaling: worker threads',
  async run(ctx: BenchContext) {
    const max = availableParallelism();
    const dflt = defaultThreads(max);
    const shards = defaultShards(undefined, max);
    // 1..cores threads over the default layout (a shard per core), and the default among them
    const counts: number[] = [];
    for (let w = 1; w <= max; w++) counts.push(w);
    const rows: (string | number)[][] = [];
    const out: ScaleRow[] = [];
    const byThreads = new Map<number, ScaleRow>();
    for (const workers of counts) {
      ctx.log(`scale.workers: ${workers} thread(s) serving ${shards} shards (fresh process)`);
      const r = await child({ devices: 1024, workers, shards, ms: dur(ctx, 1000, 250), warmMs: dur(ctx, 300, 100), concurrency: ctx.concurrency, rtMs: dur(ctx, 300, 100) });
      out.push(r);
      byThreads.set(workers, r);
    }
    const base = byThreads.get(dflt)!.opsPerSec;
    for (const r of out) {
      rows.push([`${r.workers}${r.workers === dflt ? ' (default)' : ''}`, String(r.shards), si(r.opsPerSec), sig(r.opsPerSec / base), r.rtP50us ?? NaN, r.rtP99us ?? NaN, r.startMs / 1000, num(r.rssStartMB)]);
    }
    return {
      figures: out.map((r) => figure(`${r.workers} worker${r.workers === 1 ? '' : 's'}: pipelined`, 'req/s', 'higher', r.opsWindows)),
      tables: [{
        title: `Worker threads (1024 type-3, Get Health Info, ${ctx.concurrency} in flight; ${max} cores)`,
        head: ['threads', 'shards', 'ops/s', 'vs default', 'rt p50 µs', 'rt p99 µs', 'start s', 'RSS MB'],
        rows,
        note: `each row is a fresh process over the default layout (${shards} shards, one per core); the default is cores - 1 = ${dflt} thread(s), which leaves the main thread a core\nrt = round trip with one request outstanding; workers spin at most cores - 1 at a time`,
      }],
      data: { rows: out, cores: max, defaultThreads: dflt, shards },
    };
  },
};

const MiB = 1 << 20;
const LSA_BYTES = 16 * MiB;
/** MuxOptions.deviceWindow's default */
const DEVICE_WINDOW = 16;

export const scalePayloadSection: Section = {
  id: 'scale.payload',
  title: 'Scaling: payload size',
  async run(ctx: BenchContext) {
    const mailbox = MiB;
    const mux = await createMux({ workers: 1, fleet: { devices: [{ kind: 'cxl-type3', count: 1, mailboxBytes: mailbox, lsaBytes: LSA_BYTES }] } });
    try {
      const s = mux.openSession({ tier: 'debug-write-full' });
      const device = mux.devices()[0]!.id;
      // sanity: what Set LSA writes, Get LSA reads back
      const probe = new Uint8Array(8 + 4096);
      for (let i = 8; i < probe.length; i++) probe[i] = (i * 13) & 0xff;
      const w = await s.send({ device, opcode: 0x4103, payload: probe });
      const rd = new Uint8Array(8);
      new DataView(rd.buffer).setUint32(4, 4096, true);
      const r = await s.send({ device, opcode: 0x4102, payload: rd });
      if (w.rc !== 0 || r.rc !== 0 || Buffer.compare(r.payload, probe.subarray(8)) !== 0) throw new Error(`scale.payload: Set LSA / Get LSA round trip failed (rc ${w.rc} / ${r.rc})`);

      const sizes = ctx.quick ? [64, 4096, MiB] : [64, 256, 1024, 4096, 16384, 65536, 262144, MiB];
      const area = payloadAreaFor(mailbox + 64);
      const ms = dur(ctx, 400, 150);
      const rows: (string | number)[][] = [];
      const out: Record<string, unknown>[] = [];
      const figures: Figure[] = [];
      let peak = 0;
      for (const size of sizes) {
        // in flight: what the ring's payload area holds at once, and at most the mux's per-device window (16):
        // more would wait in the mux (copied) without reaching the device sooner
        const inflight = Math.max(1, Math.min(DEVICE_WINDOW, Math.floor(area / (size + 64)) - 1));
        const setBuf = new Uint8Array(size);
        for (let i = 8; i < size; i++) setBuf[i] = i & 0xff;
        const setView = new DataView(setBuf.buffer);
        const dataLen = size - 8;
        const getBuf = new Uint8Array(8);
        const getView = new DataView(getBuf.buffer);
        getView.setUint32(4, size, true);
        const span = LSA_BYTES - size;
        let bad = 0;
        const set = async (i: number): Promise<void> => {
          setView.setUint32(0, (i * dataLen) % span, true); // send() copies the payload before it returns
          const x = await s.send({ device, opcode: 0x4103, payload: setBuf });
          if (x.rc !== 0) bad++;
        };
        const get = async (i: number): Promise<void> => {
          getView.setUint32(0, (i * size) % span, true);
          const x = await s.send({ device, opcode: 0x4102, payload: getBuf });
          if (x.rc !== 0 || x.payload.byteLength !== size) bad++;
        };
        ctx.log(`scale.payload: ${bytes(size)}, ${inflight} in flight`);
        const setRun = await closedLoopSeries(ms, inflight, set, 100);
        const getRun = await closedLoopSeries(ms, inflight, get, 100);
        const setOps = setRun.rate;
        const getOps = getRun.rate;
        figures.push(
          figure(`Set LSA ${bytes(size)}`, 'B/s', 'higher', setRun.windows.map((x) => x * size)),
          figure(`Get LSA ${bytes(size)}`, 'B/s', 'higher', getRun.windows.map((x) => x * size)),
        );
        if (bad > 0) throw new Error(`scale.payload: ${bad} Set/Get LSA answers of ${size} bytes failed`);
        peak = Math.max(peak, setOps * size, getOps * size);
        rows.push([bytes(size), String(inflight), si(setOps), bandwidth(setOps * size), si(getOps), bandwidth(getOps * size)]);
        out.push({ bytes: size, inflight, setLsaOpsPerSec: setOps, setLsaBytesPerSec: setOps * size, getLsaOpsPerSec: getOps, getLsaBytesPerSec: getOps * size });
      }
      return {
        figures,
        tables: [{
          title: 'Payload size through a type-3 with a 1 MiB mailbox (Set LSA in, Get LSA out; 1 worker)',
          head: ['mailbox payload', 'in flight', 'Set LSA ops/s', 'Set LSA in', 'Get LSA ops/s', 'Get LSA out'],
          rows,
          note: `size = mailbox payload bytes moved per command (Set LSA: 8-byte header + data; Get LSA: data); MB/GB = 10^6/10^9 B; peak ${bandwidth(peak)}\neach byte is copied main -> SQ ring -> mailbox registers -> label storage (Set), or back through the CQ ring (Get); session tier debug-write-full`,
        }],
        data: { rows: out, peakBytesPerSec: peak },
      };
    } finally {
      await mux.close();
    }
  },
};
