/**
 * Micro-benchmarks of the pieces every request goes through, timed with batched loops (ns/op, ops/s and
 * percentiles of batch means): the SPSC ring, doorbells, the permission check, MCTP fragmentation and
 * reassembly, and CCI dispatch on a device model.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { executeCci } from '../src/devices/cci/cci.js';
import { newCciRequest } from '../src/devices/cci/command-table.js';
import { encodeTunnelRequest } from '../src/devices/cxl/tunnel.js';
import { newType3State } from '../src/devices/cxl/type3.js';
import { Doorbell } from '../src/doorbell/doorbell.js';
import { buildFleet } from '../src/fleet/expand.js';
import { createMux } from '../src/index.js';
import { createRing, RingConsumer, RingProducer } from '../src/ring/spsc-ring.js';
import { Fragmenter, fragmentMessage, Reasm, Reassembler } from '../src/transport/mctp-fragment.js';
import { BaselineDevices } from './device-work.js';
import { Bell, STOP_OPCODE } from './micro-worker.js';
import { type Figure, figure } from './figures.js';
import { dur, type Section } from './section.js';
import { bandwidth, bytes, latencyStats, median, num, Samples, si } from './stats.js';
import { consume, type LoopResult, sliceStats, timeLoop } from './timing.js';

const MICRO_WORKER = new URL('./micro-worker.js', import.meta.url);
const HEALTH = 0x4200;

const LOOP_HEAD = ['operation', 'ns/op', 'ops/s', 'p50 ns', 'p99 ns', 'p99.9 ns', 'batch'];
function loopRow(name: string, r: LoopResult): (string | number)[] {
  return [name, r.nsPerOp, si(r.opsPerSec), r.p50, r.p99, r.p999, num(r.batch)];
}
function loopData(r: LoopResult): Record<string, number> {
  return { nsPerOp: r.nsPerOp, opsPerSec: r.opsPerSec, p50ns: r.p50, p99ns: r.p99, p999ns: r.p999, batch: r.batch, ops: r.ops };
}
const BATCH_NOTE = 'percentiles are over samples of `batch` operations each (ns/op of each batch), not single operations';
/** A timed loop as a figure: ns/op of each window of the run (timing.ts WINDOWS). */
const loopFigure = (name: string, r: LoopResult): Figure => figure(name, 'ns/op', 'lower', r.windows);

// ------------------------------------------------------------------ ring, one thread

const ringSingle: Section = {
  id: 'micro.ring',
  title: 'SPSC ring, single thread',
  async run(ctx) {
    const ms = dur(ctx, 400, 120);
    const rows: (string | number)[][] = [];
    const data: Record<string, unknown> = {};
    const figures: Figure[] = [];
    for (const payloadLen of [0, 64]) {
      const payload = payloadLen === 0 ? null : new Uint8Array(payloadLen).fill(7);
      for (const batch of [1, 32]) {
        const sab = createRing({ slots: 4096, payloadBytes: 1 << 20 });
        const p = new RingProducer(sab);
        const c = new RingConsumer(sab);
        const body = batch === 1
          ? (n: number): number => {
            let s = 0;
            for (let i = 0; i < n; i++) {
              p.push(i, 1, HEALTH, 0, payload);
              p.publish();
              c.available();
              const w = c.slotWord(0);
              s += c.tag(w) + (payloadLen === 0 ? 0 : c.payload[c.payloadIndex(w)]!);
              c.release(1);
            }
            return s;
          }
          : (n: number): number => {
            let s = 0;
            for (let i = 0; i < n; i += 32) {
              for (let k = 0; k < 32; k++) p.push(i + k, 1, HEALTH, 0, payload);
              p.publish();
              const m = c.available();
              for (let k = 0; k < m; k++) {
                const w = c.slotWord(k);
                s += c.tag(w) + (payloadLen === 0 ? 0 : c.payload[c.payloadIndex(w)]!);
              }
              c.release(m);
            }
            return s;
          };
        const r = timeLoop(body, ms, { unit: batch });
        const name = `push+publish+consume+release, batch ${batch}, ${payloadLen === 0 ? 'descriptor only' : `${payloadLen} B payload`}`;
        rows.push(loopRow(name, r));
        figures.push(loopFigure(name, r));
        data[`batch${batch}_payload${payloadLen}`] = loopData(r);
      }
    }
    return {
      figures,
      tables: [{ title: 'SPSC ring, one thread (ns per message)', head: LOOP_HEAD, rows, note: BATCH_NOTE }],
      data,
    };
  },
};

// ------------------------------------------------------------------ ring, two threads

async function crossThread(ms: number, publishEvery: number, payloadLen: number): Promise<{ msgsPerSec: number; count: number }> {
  const sab = createRing({ slots: 4096, payloadBytes: 1 << 20 });
  const p = new RingProducer(sab);
  const worker = new Worker(MICRO_WORKER, { workerData: { mode: 'ring', sab } });
  await once(worker, 'message'); // 'ready'
  const done = once(worker, 'message') as Promise<[{ count: number; sum: number }]>;
  const payload = payloadLen === 0 ? null : new Uint8Array(payloadLen).fill(1);
  let sent = 0;
  let sum = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  while (performance.now() < end) {
    for (let k = 0; k < 1024; k++) {
      while (!p.push(sent, 0, HEALTH, 0, payload)) p.publish(); // full: make sure the consumer sees everything, retry
      sum = (sum + sent + payloadLen) | 0;
      sent++;
      if (sent % publishEvery === 0) p.publish();
    }
  }
  while (!p.push(0, 0, STOP_OPCODE, 0, null)) p.publish();
  p.publish();
  const [res] = await done;
  const elapsed = performance.now() - t0;
  await worker.terminate();
  if (res.count !== sent || res.sum !== sum) throw new Error(`ring cross-thread: consumer saw ${res.count} messages (checksum ${res.sum}), producer sent ${sent} (${sum})`);
  return { msgsPerSec: (sent * 1000) / elapsed, count: sent };
}

const ringCross: Section = {
  id: 'micro.ring-xthread',
  title: 'SPSC ring, producer on main, consumer in a worker',
  async run(ctx) {
    const ms = dur(ctx, 700, 200);
    const rows: (string | number)[][] = [];
    const data: Record<string, unknown> = {};
    const figures: Figure[] = [];
    for (const [every, len] of [[1, 0], [32, 0], [32, 64]] as const) {
      // three runs of a third each (a fresh worker each): the row shows their median
      const runs = [];
      for (let k = 0; k < 3; k++) runs.push(await crossThread(ms / 3, every, len));
      const rates = runs.map((x) => x.msgsPerSec);
      const msgsPerSec = median(rates);
      const count = runs.reduce((a, x) => a + x.count, 0);
      const name = `publish every ${every}, ${len === 0 ? 'descriptor only' : `${len} B payload`}`;
      rows.push([name, si(msgsPerSec), 1e9 / msgsPerSec, len === 0 ? '-' : bandwidth(msgsPerSec * len), num(count)]);
      data[`publish${every}_payload${len}`] = { msgsPerSec, messages: count, runs: rates };
      figures.push(figure(`cross-thread, ${name}`, 'msg/s', 'higher', rates));
    }
    return {
      figures,
      tables: [{
        title: 'SPSC ring across threads (one way; consumer spins, drains up to 256 per HEAD store)',
        head: ['producer', 'msg/s', 'ns/msg', 'payload', 'messages'], rows,
        note: 'median of 3 runs (a worker each); every message and a checksum verified by the consumer; time includes the final drain',
      }],
      data,
    };
  },
};

// ------------------------------------------------------------------ doorbells

async function startBellWorker(spinNs: number): Promise<{ w: Int32Array; stop: () => Promise<void> }> {
  const sab = new SharedArrayBuffer(Bell.WORDS * 4);
  const w = new Int32Array(sab);
  const worker = new Worker(MICRO_WORKER, { workerData: { mode: 'doorbell', sab, spinNs } });
  await once(worker, 'message'); // 'ready': the worker has read the initial doorbell value
  const stop = async (): Promise<void> => {
    const stopped = once(worker, 'message');
    Atomics.store(w, Bell.STOP, 1);
    Atomics.notify(w, Bell.REQ);
    await stopped;
    await worker.terminate();
  };
  return { w, stop };
}

const doorbell: Section = {
  id: 'micro.doorbell',
  title: 'Doorbell round trip',
  async run(ctx) {
    const ms = dur(ctx, 600, 150);
    const warmMs = dur(ctx, 100, 40);
    const rows: (string | number)[][] = [];
    const data: Record<string, unknown> = {};
    const head = ['worker state / main side', 'p50 µs', 'p99 µs', 'p99.9 µs', 'mean µs', 'round trips', 'worker sleeps/op'];
    const figures: Figure[] = [];

    // main spins on the reply: isolates the worker's wake-up
    for (const [label, spinNs] of [['idle: worker asleep in Atomics.wait / main spins', 0], ['busy: worker spinning / main spins', 1e15]] as const) {
      const { w, stop } = await startBellWorker(spinNs);
      const req = new Doorbell(w, Bell.REQ, Bell.REQ_SLEEPING);
      let v = 0;
      const body = (n: number): number => {
        for (let i = 0; i < n; i++) {
          v = (v + 1) | 0;
          Atomics.store(w, Bell.REQ, v);
          req.ring();
          while (Atomics.load(w, Bell.REP) !== v);
        }
        return v;
      };
      const warmEnd = performance.now() + warmMs;
      while (performance.now() < warmEnd) body(1);
      const s0 = Atomics.load(w, Bell.SLEEPS);
      // idle: every round trip timed on its own (10+ µs); busy: batches of 64 (sub-µs)
      const r = timeLoop(body, ms, { batch: spinNs === 0 ? 1 : 64, warmupMs: 0 });
      const sleeps = Atomics.load(w, Bell.SLEEPS) - s0;
      await stop();
      rows.push([label, r.p50 / 1000, r.p99 / 1000, r.p999 / 1000, r.nsPerOp / 1000, num(r.ops), (sleeps / r.ops).toFixed(2)]);
      figures.push(figure(`doorbell round trip, ${label}`, 'µs', 'lower', r.windows.map((ns) => ns / 1000)));
      data[spinNs === 0 ? 'idleMainSpins' : 'busyMainSpins'] = { ...loopData(r), sleepsPerOp: sleeps / r.ops };
    }

    // worker asleep, main waits with Atomics.waitAsync (the mux's idle path on the main thread)
    {
      const { w, stop } = await startBellWorker(0);
      const req = new Doorbell(w, Bell.REQ, Bell.REQ_SLEEPING);
      let v = 0;
      const one = async (): Promise<void> => {
        v = (v + 1) | 0;
        Atomics.store(w, Bell.REQ, v);
        req.ring();
        for (;;) {
          const cur = Atomics.load(w, Bell.REP);
          if (cur === v) break;
          Atomics.store(w, Bell.REP_SLEEPING, 1);
          if (Atomics.load(w, Bell.REP) === cur) {
            const res = Atomics.waitAsync(w, Bell.REP, cur, 1000);
            if (res.async) await res.value;
          }
          Atomics.store(w, Bell.REP_SLEEPING, 0);
        }
      };
      const warmEnd = performance.now() + warmMs;
      while (performance.now() < warmEnd) await one();
      const s0 = Atomics.load(w, Bell.SLEEPS);
      const ns = new Samples();
      const end = performance.now() + ms;
      for (;;) {
        const t0 = performance.now();
        await one();
        const t1 = performance.now();
        ns.push((t1 - t0) * 1e6);
        if (t1 >= end) break;
      }
      const sleeps = Atomics.load(w, Bell.SLEEPS) - s0;
      await stop();
      const s = latencyStats(ns.values());
      rows.push(['idle: worker asleep / main Atomics.waitAsync', s.p50, s.p99, s.p999, s.mean, num(s.samples), (sleeps / s.samples).toFixed(2)]);
      figures.push(figure('doorbell round trip p50, idle: worker asleep / main Atomics.waitAsync', 'µs', 'lower', sliceStats(ns.values()).map((x) => x.p50)));
      data['idleMainWaitAsync'] = { ...s, sleepsPerOp: sleeps / s.samples };
    }
    return {
      figures,
      tables: [{
        title: 'Doorbell round trip: main rings, worker answers on a second doorbell (µs)', head, rows,
        note: 'idle rows time each round trip; the busy row times batches of 64 (percentiles of batch means)',
      }],
      data,
    };
  },
};

// ------------------------------------------------------------------ permission check

const policyCheck: Section = {
  id: 'micro.policy',
  title: 'Permission check per request',
  async run(ctx) {
    const ms = dur(ctx, 300, 100);
    // default switch topology: port 1 an SLD (host 0), port 2 an MLD of 4 LDs, port 3 an SLD
    const mux = await createMux({ workers: 1, fleet: { 'cxl-type3': 2, 'cxl-switch': 1 } });
    try {
      const policy = mux.policy;
      const idx = (id: string): number => mux.fleet.byId.get(id)!.index;
      const read = mux.openSession({ tier: 'debug-read' });
      const full = mux.openSession({ tier: 'debug-write-full' });
      const fm = mux.openSession({ tier: 'debug-read', fabricManager: true });
      const lsa = new Uint8Array(8 + 64);
      const cases = [
        { name: 'type-3 read: Get Health Info (4200h), debug-read', s: read, di: idx('mem0'), op: HEALTH, payload: null, audited: false },
        { name: 'type-3 write-class: Set LSA (4103h), debug-write-full, audited', s: full, di: idx('mem0'), op: 0x4103, payload: lsa, audited: true },
        { name: '1-hop tunnel sw0 -> port 1 (SLD), Get Health Info', s: read, di: idx('sw0'), op: 0x5300, payload: encodeTunnelRequest([{ portOrLd: 1 }], HEALTH), audited: false },
        { name: '2-hop tunnel sw0 -> port 2 (MLD) -> LD 0, Get Health Info, FM', s: fm, di: idx('sw0'), op: 0x5300, payload: encodeTunnelRequest([{ portOrLd: 2 }, { portOrLd: 0 }], HEALTH), audited: false },
      ];
      const rows: (string | number)[][] = [];
      const data: Record<string, unknown> = {};
      const figures: Figure[] = [];
      for (const c of cases) {
        const first = policy.check(c.s, c.di, c.op, c.payload); // throws if the case is not allowed
        if ((first !== null) !== c.audited) throw new Error(`policy micro: ${c.name}: unexpected audit decision`);
        const body = (n: number): number => {
          let k = 0;
          for (let i = 0; i < n; i++) if (policy.check(c.s, c.di, c.op, c.payload) !== null) k++;
          return k;
        };
        const r = timeLoop(body, ms);
        rows.push(loopRow(c.name, r));
        figures.push(loopFigure(`policy.check(), ${c.name}`, r));
        data[c.name] = loopData(r);
      }
      return {
        figures,
        tables: [{ title: 'Permission check, policy.check() per request (ns)', head: LOOP_HEAD, rows, note: BATCH_NOTE }],
        data: { ...data, readNsPerOp: (data[cases[0]!.name] as { nsPerOp: number }).nsPerOp },
      };
    } finally {
      await mux.close();
    }
  },
};

// ------------------------------------------------------------------ MCTP

const mctp: Section = {
  id: 'micro.mctp',
  title: 'MCTP fragmentation + reassembly',
  async run(ctx) {
    const ms = dur(ctx, 250, 80);
    const rows: (string | number)[][] = [];
    const data: Record<string, unknown> = {};
    const figures: Figure[] = [];
    for (const size of [64, 4096, 65536]) {
      const body = new Uint8Array(size);
      for (let i = 0; i < size; i++) body[i] = (i * 31 + 7) & 0xff;
      for (const mtu of [64, 4096]) {
        const packets = Math.ceil(size / mtu);
        const rx = new Reassembler({ localEid: 8, maxMessageBytes: 1 << 17, maxUnit: 4096, timeoutNs: Infinity });
        const f = new Fragmenter();
        const pkt = new Uint8Array(4 + 4096);
        let tag = 0;
        const zeroCopy = (n: number): number => {
          let s = 0;
          for (let i = 0; i < n; i++) {
            const count = f.begin(body, mtu, 9, 8, tag, true, i);
            tag = (tag + 1) & 7;
            let rc = 0;
            for (let k = 0; k < count; k++) rc = rx.acceptAt(pkt, 0, f.next(pkt, 0), 0);
            if (rc !== Reasm.MESSAGE) throw new Error(`MCTP reassembly failed: ${rc}`);
            s += rx.message.byteLength;
          }
          return s;
        };
        const allocating = (n: number): number => {
          let s = 0;
          for (let i = 0; i < n; i++) {
            const pkts = fragmentMessage(body, mtu, 9, 8, tag, true, i);
            tag = (tag + 1) & 7;
            let rc = 0;
            for (const p of pkts) rc = rx.accept(p, 0);
            if (rc !== Reasm.MESSAGE) throw new Error(`MCTP reassembly failed: ${rc}`);
            s += rx.message.byteLength;
          }
          return s;
        };
        for (const [api, fn] of [['Fragmenter.next -> acceptAt (one packet buffer)', zeroCopy], ['fragmentMessage() -> accept()', allocating]] as const) {
          const r = timeLoop(fn, ms);
          rows.push([`${bytes(size)} at MTU ${mtu}, ${api}`, num(packets), r.nsPerOp / 1000, si(r.opsPerSec), bandwidth(r.opsPerSec * size), r.nsPerOp / packets]);
          figures.push(loopFigure(`MCTP ${bytes(size)} at MTU ${mtu}, ${api}`, r));
          data[`${size}B_mtu${mtu}_${fn === zeroCopy ? 'fragmenter' : 'fragmentMessage'}`] = { ...loopData(r), packets, bytesPerSec: r.opsPerSec * size };
        }
      }
    }
    return {
      figures,
      tables: [{
        title: 'MCTP fragmentation + reassembly, one message each way through a Reassembler',
        head: ['message, MTU, API', 'packets', 'µs/msg', 'msg/s', 'throughput', 'ns/packet'], rows,
        note: 'throughput counts message bytes (MB = 10^6 B); every message is checked to reassemble',
      }],
      data,
    };
  },
};

// ------------------------------------------------------------------ CCI dispatch

const cci: Section = {
  id: 'micro.cci',
  title: 'CCI dispatch on a device model',
  async run(ctx) {
    const ms = dur(ctx, 300, 100);
    const fleet = buildFleet({ 'cxl-type3': 1 }, 1);
    const state = newType3State(fleet.devices[0]!);
    const req = newCciRequest(new Uint8Array(4096));
    req.opcode = HEALTH;
    req.nowNs = performance.now() * 1e6;
    const direct = (n: number): number => {
      let s = 0;
      for (let i = 0; i < n; i++) {
        req.inLen = 0;
        s += executeCci(state, req) + req.outLen;
      }
      return s;
    };
    if (direct(1) !== req.outLen) throw new Error('Get Health Info did not succeed on the device model');
    const work = new BaselineDevices(1);
    const baseline = (n: number): number => {
      let s = 0;
      for (let i = 0; i < n; i++) s += work.execute(0, HEALTH, null).payload.byteLength;
      return s;
    };
    const r1 = timeLoop(direct, ms);
    const r2 = timeLoop(baseline, ms);
    consume(r1.ops + r2.ops);
    return {
      figures: [loopFigure('executeCci, Get Health Info', r1), loopFigure('baseline per-command work, Get Health Info', r2)],
      tables: [{
        title: 'CCI dispatch of Get Health Info (4200h) on a type-3 model (ns)', head: LOOP_HEAD,
        rows: [loopRow('executeCci(type-3 state, request)', r1), loopRow('same + output copy (the baselines\' per-command work)', r2)],
        note: BATCH_NOTE,
      }],
      data: { executeCci: loopData(r1), baselineWork: loopData(r2) },
    };
  },
};

export const MICRO_SECTIONS: Section[] = [ringSingle, ringCross, doorbell, policyCheck, mctp, cci];
