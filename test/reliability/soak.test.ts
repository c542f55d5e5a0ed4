import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, type FleetFile, type SendRequest } from '../../src/index.js';

/**
 * Soak: several sessions drive a faulty fleet for SOAK_SECONDS (default 20) with faults injected at random —
 * worker crashes, worker exits, hangs, slow devices, busy storms, error codes, malformed answers, dropped
 * MCTP fragments, timeouts and aborts. Every request must settle exactly once: sent = completed + failed, lost = 0,
 * duplicated = 0. The tally is printed.
 */
const SECONDS = Number(process.env.SOAK_SECONDS ?? 20);

const FLEET: FleetFile = {
  seed: 5,
  devices: [
    { kind: 'cxl-type3', count: 12 }, // mem0..mem11 healthy
    { kind: 'cxl-type3', count: 1, vendorCommands: 'declared', faults: { crashOn: 0xc000 } }, // mem12: kills its worker (throw)
    { kind: 'cxl-type3', count: 1, vendorCommands: 'declared', faults: { exitOn: 0xc000 } }, // mem13: kills its worker (exit)
    { kind: 'cxl-type3', count: 1, faults: { hang: [0x4200] } }, // mem14
    { kind: 'cxl-type3', count: 1, faults: { slowMs: 2, busy: 0.2 } }, // mem15
    { kind: 'cxl-type3', count: 1, faults: { error: 0.3, errorRc: 0x05 } }, // mem16
    { kind: 'cxl-type3', count: 1, faults: { malformed: [0x4200] } }, // mem17: Payload Length past its mailbox
    { kind: 'cxl-switch', count: 1 }, // sw0 + SLDs/MLD below
    { kind: 'cxl-switch', count: 1, faults: { malformed: [0x5300] } }, // sw1: malformed tunnel responses
    { kind: 'nvme', count: 2, faults: { busy: 0.1 } },
    { kind: 'mctp-pcc', count: 2, fronts: ['mem0', 'sw0'], faults: { dropFragments: 0.05 } },
  ],
};

function rng(seed: number): () => number {
  let x = seed | 1;
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 4294967296; };
}

test(`soak ${SECONDS}s with random faults: nothing lost, nothing duplicated`, async () => {
  const mux = await createMux({ workers: 2, fleet: FLEET, maxRestarts: 10_000, defaultTimeoutMs: 500 });
  const random = rng(99);
  const tally: Record<string, number> = {};
  let sent = 0;
  let settled = 0;
  let duplicated = 0;
  let injected = 0;
  const note = (k: string): void => { tally[k] = (tally[k] ?? 0) + 1; };
  const pick = (): SendRequest => {
    const r = random();
    if (r < 0.002) { injected++; return { device: random() < 0.5 ? 'mem12' : 'mem13', opcode: 0xc000 }; }
    if (r < 0.05) return { device: 'mem14', opcode: 0x4200, timeoutMs: 20 };
    if (r < 0.1) return { device: 'mem15', opcode: 0x4200 };
    if (r < 0.15) return { device: 'mem16', opcode: 0x0001 };
    if (r < 0.25) return { device: `nvme${Math.floor(random() * 2)}`, opcode: 0x06, cdw10: 1 };
    if (r < 0.3) return { device: `mctp${Math.floor(random() * 2)}`, opcode: 0x0001, timeoutMs: 2000 };
    if (r < 0.35) return { device: 'sw0', opcode: 0x4200, tunnel: [1] };
    if (r < 0.36) return { device: 'sw1', opcode: 0x4200, tunnel: [1] };
    if (r < 0.37) return { device: 'mem17', opcode: 0x4200 };
    return { device: `mem${Math.floor(random() * 12)}`, opcode: random() < 0.8 ? 0x4200 : 0x0300 };
  };
  const sessions = Array.from({ length: 4 }, (_, i) => mux.openSession({ name: `soak-${i}`, tier: 'debug-write-full', fabricManager: true }));
  const end = performance.now() + SECONDS * 1000;
  const worker = async (k: number): Promise<void> => {
    const s = sessions[k % sessions.length]!;
    while (performance.now() < end) {
      const req = pick();
      const ac = random() < 0.01 ? new AbortController() : null;
      if (ac) { req.signal = ac.signal; setTimeout(() => ac.abort(), Math.floor(random() * 3)); }
      sent++;
      let once = 0;
      await s.send(req).then(
        (r) => { if (once++) duplicated++; else settled++; note(r.rc === 0 ? 'ok' : 'device-error-rc'); },
        (e: { code?: string }) => { if (once++) duplicated++; else settled++; note(e.code ?? 'untyped'); },
      );
    }
  };
  await Promise.all(Array.from({ length: 64 }, (_, k) => worker(k)));
  const st = mux.stats();
  await mux.close();
  const lost = sent - settled;
  console.log(`  soak: ${SECONDS}s, sent ${sent}, completed ${tally['ok'] ?? 0} (+${tally['device-error-rc'] ?? 0} with a device error rc), failed ${settled - (tally['ok'] ?? 0) - (tally['device-error-rc'] ?? 0)}, lost ${lost}, duplicated ${duplicated}; worker kills injected ${injected}, restarts ${st.shards.reduce((n, x) => n + x.generation, 0)}; ${JSON.stringify(tally)}`);
  assert.is(lost, 0, 'every request settled');
  assert.is(duplicated, 0, 'none settled twice');
  assert.ok(sent > 1000);
  assert.ok(injected > 0 && st.shards.some((x) => x.generation > 0), 'workers really died and came back');
  assert.ok((tally['EMBX_PROTOCOL'] ?? 0) > 0, 'malformed answers were injected and failed only their requests');
  assert.equal(Object.keys(tally).filter((k) => !['ok', 'device-error-rc', 'EMBX_TIMEOUT', 'EMBX_ABORTED', 'EMBX_WORKER_LOST', 'EMBX_TRANSPORT', 'EMBX_PROTOCOL'].includes(k)), [],
    'only the failures the faults explain');
});

test.run();
