/**
 * Every device kind through the mux, on the default fleet (1024 type-3, 4 switches with an SLD, an MLD of
 * 4 LDs and an SLD below each, 256 NVMe controllers, 16 MCTP endpoints): round trip with one request
 * outstanding (worker spinning), and pipelined throughput spread over every device of the kind.
 */
import { createMux, DEFAULT_FLEET, type SendRequest, type Session } from '../src/index.js';
import { type Figure, figure } from './figures.js';
import { type BenchContext, dur, type Section } from './section.js';
import { type LatencyStats, num, si } from './stats.js';
import { closedLoopSeries, tinybenchRoundTrips } from './timing.js';

/** tinybench runs per round trip figure */
const RT_RUNS = 3;

interface Case {
  name: string;
  /** one request per target device */
  requests: SendRequest[];
  fm: boolean;
}

export const devicesSection: Section = {
  id: 'devices',
  title: 'Per device kind, through the mux',
  async run(ctx: BenchContext) {
    const rtMs = dur(ctx, 500, 120);
    const tpMs = dur(ctx, ctx.seconds * 500, 250);
    const t0 = performance.now();
    const mux = await createMux({ workers: ctx.workers, fleet: { ...DEFAULT_FLEET } });
    const startMs = performance.now() - t0;
    try {
      const fleet = mux.fleet;
      const ids = (pred: (d: (typeof fleet.devices)[number]) => boolean): string[] => fleet.devices.filter(pred).map((d) => d.id);
      // the stand-alone type-3 devices (not the SLDs and LDs below switches, which belong to several hosts)
      const below = new Set(fleet.devices.flatMap((d) => d.switchInfo?.downstream.map((p) => p.target) ?? []));
      const mem = ids((d) => d.kind === 'cxl-type3' && d.type3?.mld === undefined && !below.has(d.index));
      const sw = ids((d) => d.kind === 'cxl-switch');
      const nvme = ids((d) => d.kind === 'nvme');
      const mctpTo = (kind: string): { ids: string[]; mtu: number } => {
        const list = fleet.devices.filter((d) => d.mctp !== undefined && fleet.devices[d.mctp.fronts]!.kind === kind);
        return { ids: list.map((d) => d.id), mtu: list[0]?.mctp?.mtu ?? 0 };
      };
      const mctpSw = mctpTo('cxl-switch');
      const mctpMem = mctpTo('cxl-type3');
      const cases: Case[] = [
        { name: 'type-3 Get Health Info (4200h)', requests: mem.map((device) => ({ device, opcode: 0x4200 })), fm: false },
        { name: 'switch Identify Switch Device (5100h)', requests: sw.map((device) => ({ device, opcode: 0x5100 })), fm: false },
        { name: 'tunnel switch -> SLD, Get Health Info [1]', requests: sw.map((device) => ({ device, opcode: 0x4200, tunnel: [1] })), fm: false },
        { name: 'tunnel switch -> MLD -> LD 0, Get Health Info [2, 0] (FM)', requests: sw.map((device) => ({ device, opcode: 0x4200, tunnel: [2, 0] })), fm: true },
        { name: 'NVMe Identify Controller (06h, CNS 1)', requests: nvme.map((device) => ({ device, opcode: 0x06, cdw10: 1 })), fm: false },
        { name: 'NVMe SMART / Health log (02h, 512 B)', requests: nvme.map((device) => ({ device, opcode: 0x02, cdw10: 0x02 | (127 << 16) })), fm: false },
        // 4 KiB (8 blocks of 512 B) at LBA 0 of namespace 1, on I/O queue 1 (created below)
        { name: 'NVMe Read 4 KiB (I/O queue 1, 02h)', requests: nvme.map((device) => ({ device, queue: 1, opcode: 0x02, nsid: 1, cdw12: 7 })), fm: false },
        { name: `MCTP Identify (0001h) via mctp -> switch, MTU ${mctpSw.mtu}`, requests: mctpSw.ids.map((device) => ({ device, opcode: 0x0001 })), fm: false },
        { name: `MCTP Identify (0001h) via mctp -> type-3, MTU ${mctpMem.mtu}`, requests: mctpMem.ids.map((device) => ({ device, opcode: 0x0001 })), fm: false },
      ];
      // I/O queue pair 1 on every controller for the Read row (queue management needs debug-write)
      const admin = mux.openSession({ tier: 'debug-write', name: 'bench-setup' });
      await Promise.all(nvme.map(async (device) => {
        const cq = await admin.send({ device, opcode: 0x05, cdw10: 1 | (63 << 16), cdw11: 1 });
        const sq = await admin.send({ device, opcode: 0x01, cdw10: 1 | (63 << 16), cdw11: 1 | (1 << 16) });
        if (cq.rc !== 0 || sq.rc !== 0) throw new Error(`devices: ${device} refused I/O queue 1 (status 0x${cq.rc.toString(16)} / 0x${sq.rc.toString(16)})`);
      }));
      admin.close();
      const host = mux.openSession({ tier: 'debug-read' });
      const fm = mux.openSession({ tier: 'debug-read', fabricManager: true });
      const rows: (string | number)[][] = [];
      const data: Record<string, unknown> = { fleet: DEFAULT_FLEET, startMs };
      const figures: Figure[] = [];
      for (const c of cases) {
        if (c.requests.length === 0) throw new Error(`devices: no device in the default fleet for "${c.name}"`);
        const s: Session = c.fm ? fm : host;
        const first = await s.send(c.requests[0]!);
        if (first.rc !== 0) throw new Error(`devices: ${c.name} on ${c.requests[0]!.device} answered rc ${first.rc}`);
        const outBytes = first.payload.byteLength;
        ctx.log(`devices: ${c.name}`);
        const one = c.requests[0]!;
        // three tinybench runs: the table shows the one with the median p50, the figure all three
        const runs: LatencyStats[] = [];
        for (let k = 0; k < RT_RUNS; k++) runs.push(await tinybenchRoundTrips(c.name, () => s.send(one), rtMs / RT_RUNS, 50));
        const rt = [...runs].sort((a, b) => a.p50 - b.p50)[RT_RUNS >> 1]!;
        const reqs = c.requests;
        let bad = 0;
        const tp = await closedLoopSeries(tpMs, ctx.concurrency, async (i) => {
          const r = await s.send(reqs[i % reqs.length]!);
          if (r.rc !== 0) bad++;
        });
        if (bad > 0) throw new Error(`devices: ${c.name}: ${bad} answers were not Success`);
        rows.push([c.name, num(reqs.length), num(outBytes), rt.p50, rt.p99, rt.p999, rt.mean, si(tp.rate)]);
        data[c.name] = { devices: reqs.length, outputBytes: outBytes, roundTrip: rt, roundTripRuns: runs, pipelinedOpsPerSec: tp.rate, pipelinedWindows: tp.windows };
        figures.push(
          figure(`${c.name}: round trip p50`, 'µs', 'lower', runs.map((r) => r.p50)),
          figure(`${c.name}: pipelined`, 'req/s', 'higher', tp.windows),
        );
      }
      return {
        figures,
        tables: [{
          title: `Per device kind through the mux (default fleet, ${fleet.devices.length} devices, ${ctx.workers} workers)`,
          head: ['command', 'devices', 'out B', 'p50 µs', 'p99 µs', 'p99.9 µs', 'mean µs', `ops/s @${ctx.concurrency}`],
          rows,
          note: `round trip (tinybench, the median of ${RT_RUNS} runs): one request outstanding to the first device, worker spinning; ops/s: ${ctx.concurrency} in flight spread over every device listed, one session.\nEvery answer checked for rc 0 (Success). Mux start (enumeration of the fleet): ${num(startMs)} ms.`,
        }],
        data,
      };
    } finally {
      await mux.close();
    }
  },
};
