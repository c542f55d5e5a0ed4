/**
 * One fleet served by 1, 2 and 3 `mbxmux serve` processes (--slice i/N each, Unix sockets), loaded through
 * connectFleet by the harness in this process: a closed loop keeping 256 requests in flight per server (each
 * connection's server-side window), Get Health Info on the type-3 devices. req/s and latency side by side.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectFleet, fleetLoadTarget, runLoad } from '../src/index.js';
import { figure } from './figures.js';
import { type BenchContext, dur, type Section, threadsOf } from './section.js';
import { startServer, stopServer } from './socket.js';
import { num } from './stats.js';

const DEVICES = 1024;
const DEPTH = 256;

export interface FleetRow {
  servers: number;
  inFlight: number;
  reqPerSec: number;
  p50us: number;
  p99us: number;
  errors: number;
  /** req/s and p99 (µs) of each interval of the run: the repeats a comparison judges noise by */
  windows: { rate: number[]; p99: number[] };
}

async function runOne(ctx: BenchContext, servers: number, dir: string): Promise<FleetRow> {
  const paths = Array.from({ length: servers }, (_, i) => join(dir, `slice${i}of${servers}.sock`));
  const children = await Promise.all(paths.map(async (p, i) => (await startServer(ctx, ['--socket', p, '--slice', `${i}/${servers}`], DEVICES)).child));
  try {
    await using fleet = await connectFleet(paths.map((path) => ({ path })), { name: 'bench' });
    const { result } = runLoad({
      mux: fleetLoadTarget(fleet), concurrency: DEPTH * servers, mix: 'health=1', host: 0, fabricManager: false,
      durationMs: dur(ctx, 3000, 800), warmupMs: dur(ctx, 500, 200),
    });
    const r = await result;
    const full = r.intervals.filter((i) => i.durationMs === r.intervalMs && i.requests > 0);
    return {
      servers, inFlight: DEPTH * servers, reqPerSec: r.throughput, p50us: r.latency.p50, p99us: r.latency.p99, errors: r.sent - r.requests,
      windows: { rate: full.map((i) => i.rate), p99: full.map((i) => i.p99) },
    };
  } finally {
    await Promise.all(children.map(stopServer));
  }
}

export const socketFleetSection: Section = {
  id: 'socket.fleet',
  title: 'One fleet served by 1, 2, 3 processes',
  async run(ctx: BenchContext) {
    const dir = mkdtempSync(join(tmpdir(), 'mbxmux-bench-fleet-'));
    const rows: FleetRow[] = [];
    try {
      for (const n of [1, 2, 3]) {
        ctx.log(`socket.fleet: ${n} serve process(es), ${DEPTH * n} in flight`);
        rows.push(await runOne(ctx, n, dir));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return {
      figures: rows.flatMap((r) => [
        figure(`${r.servers} serve process(es)`, 'req/s', 'higher', r.windows.rate),
        figure(`${r.servers} serve process(es) p99`, 'µs', 'lower', r.windows.p99),
      ]),
      tables: [{
        title: `cxl-type3=${DEVICES} in 1, 2, 3 slices (mbxmux serve --slice i/N, ${threadsOf(ctx)} worker thread(s) each), one client via connectFleet`,
        head: ['servers', 'in flight', 'req/s', 'p50 µs', 'p99 µs', 'errors'],
        rows: rows.map((r) => [String(r.servers), String(r.inFlight), num(r.reqPerSec), num(r.p50us, 1), num(r.p99us, 1), String(r.errors)]),
        note: 'servers and the client share this machine\'s cores: on a 2-vCPU host more processes split the same CPU; across hosts each adds its own',
      }],
      data: { devices: DEVICES, depthPerServer: DEPTH, workers: threadsOf(ctx), rows: rows.map(({ windows: _w, ...row }) => row) },
    };
  },
};
