import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, type CommandResult } from '../src/index.js';

const DEVICES = 10_000;
const REQUESTS = 1_000_000;
const IN_FLIGHT = 8192;

/** xorshift32: a reproducible request mix */
function rng(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

test(`2 workers, ${DEVICES} devices, ${REQUESTS} mixed requests: every completion matches its request and per-device order holds`, async () => {
  const mux = await createMux({
    workers: 2,
    fleet: { seed: 3, devices: [{ kind: 'cxl-type3', count: DEVICES, mailboxBytes: 256, lsaBytes: 4096 }] },
  });
  try {
    const devs = mux.devices();
    assert.is(devs.length, DEVICES);
    assert.equal(new Set(devs.map((d) => d.shard)), new Set([0, 1]));
    const ids = devs.map((d) => d.id);
    const serials = devs.map((d) => d.serial);
    const s = mux.openSession({ tier: 'debug-write-full' });
    const before = mux.stats(); // enumeration at start already completed requests of its own
    // Per device: the sequence number of the last Set LSA submitted. A Get LSA must read exactly that
    // value: it proves per-device FIFO order and that each completion carries its own request's bytes.
    const lastWritten = new Int32Array(DEVICES).fill(-1);
    const writes = new Int32Array(DEVICES);
    const random = rng(12345);
    let outstanding = 0;
    let done = 0;
    let mismatches = 0;
    const counts = { identify: 0, health: 0, set: 0, get: 0 };
    let wake: (() => void) | null = null;
    const finish = (): void => {
      outstanding--;
      done++;
      if (wake !== null && outstanding < IN_FLIGHT / 2) {
        const w = wake;
        wake = null;
        w();
      }
    };
    const fail = (msg: string): void => {
      if (mismatches++ < 5) console.error(msg);
    };
    const t0 = performance.now();
    for (let i = 0; i < REQUESTS; i++) {
      if (outstanding >= IN_FLIGHT) await new Promise<void>((r) => (wake = r));
      const dev = Math.floor(random() * DEVICES);
      const roll = random();
      outstanding++;
      let p: Promise<CommandResult>;
      let check: (r: CommandResult) => void;
      if (roll < 0.4) {
        const seq = writes[dev]!++;
        lastWritten[dev] = seq;
        const payload = new Uint8Array(8 + 16);
        const v = new DataView(payload.buffer);
        v.setUint32(8, dev, true);
        v.setUint32(12, seq, true);
        v.setUint32(16, i, true);
        v.setUint32(20, 0xa5a5a5a5, true);
        counts.set++;
        p = s.send({ device: ids[dev]!, opcode: 0x4103, payload });
        check = (r) => {
          if (r.rc !== 0 || r.payload.byteLength !== 0) fail(`set ${i}: rc ${r.rc}`);
        };
      } else if (roll < 0.8) {
        const expectSeq = lastWritten[dev]!;
        const payload = new Uint8Array(8);
        new DataView(payload.buffer).setUint32(4, 16, true);
        counts.get++;
        p = s.send({ device: ids[dev]!, opcode: 0x4102, payload });
        check = (r) => {
          const v = new DataView(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength);
          if (r.rc !== 0 || r.payload.byteLength !== 16) return fail(`get ${i}: rc ${r.rc} len ${r.payload.byteLength}`);
          if (expectSeq < 0) {
            if (v.getUint32(0, true) !== 0 || v.getUint32(12, true) !== 0) fail(`get ${i}: expected an unwritten LSA`);
          } else if (v.getUint32(0, true) !== dev || v.getUint32(4, true) !== expectSeq || v.getUint32(12, true) !== 0xa5a5a5a5) {
            fail(`get ${i} on ${ids[dev]}: expected write #${expectSeq}, got device ${v.getUint32(0, true)} write #${v.getUint32(4, true)}`);
          }
        };
      } else if (roll < 0.9) {
        counts.identify++;
        p = s.send({ device: ids[dev]!, opcode: 0x0001 });
        check = (r) => {
          const serial = Buffer.from(r.payload.buffer, r.payload.byteOffset + 8, 8).readBigUInt64LE().toString(16).padStart(16, '0');
          if (r.rc !== 0 || serial !== serials[dev]) fail(`identify ${i}: serial ${serial} != ${serials[dev]}`);
        };
      } else {
        counts.health++;
        p = s.send({ device: ids[dev]!, opcode: 0x4200 });
        check = (r) => {
          if (r.rc !== 0 || r.payload.byteLength !== 18) fail(`health ${i}: rc ${r.rc}`);
        };
      }
      p.then(
        (r) => {
          check(r);
          finish();
        },
        (e: Error) => {
          fail(`request ${i} failed: ${e.message}`);
          finish();
        },
      );
    }
    while (outstanding > 0) await new Promise<void>((r) => (wake = r));
    const secs = (performance.now() - t0) / 1000;
    console.log(`  ${REQUESTS} requests in ${secs.toFixed(2)} s (${Math.round(REQUESTS / secs)}/s): ${JSON.stringify(counts)}`);
    assert.is(done, REQUESTS, 'every request completed exactly once');
    assert.is(mismatches, 0, 'no completion carried another request\'s device or bytes, and per-device order held');
    const st = mux.stats();
    assert.is(st.inFlight, 0);
    assert.is(st.completed - before.completed, REQUESTS);
    // (enumeration at start may have failed attempts of its own on a busy machine: it retries them)
    assert.is(st.failed - before.failed, 0);
    assert.ok(st.shards.every((x) => x.requests > REQUESTS / 4), 'both shards did real work');
    assert.is(mux.auditLog().length, 10_000, 'the audit log keeps the newest 10,000 write-class records');
    assert.ok(mux.tainted, 'debug-write-full commands taint the mux');
  } finally {
    await mux.close();
  }
});

test.run();
