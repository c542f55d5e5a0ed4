import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, type FleetFile } from '../../src/index.js';
import { until } from '../wait.js';

/** Hangs, slow devices, busy storms, error return codes and dropped MCTP fragments never stick the mux. */

const FLEET: FleetFile = {
  seed: 11,
  devices: [
    { kind: 'cxl-type3', count: 2 }, // mem0, mem1: healthy
    { kind: 'cxl-type3', count: 1, faults: { busy: 0.3 } }, // mem2: busy storm
    { kind: 'cxl-type3', count: 1, faults: { error: 0.2, errorRc: 0x04 } }, // mem3: internal errors
    { kind: 'cxl-type3', count: 1, faults: { slowMs: 5 } }, // mem4
    { kind: 'cxl-type3', count: 1, faults: { hang: [0x4200] } }, // mem5: hangs on Get Health Info only
    { kind: 'nvme', count: 1, faults: { busy: 0.3 } }, // nvme0
    { kind: 'mctp-pcc', count: 1, fronts: ['mem0'], faults: { dropFragments: 0.1 } }, // mctp0
  ],
};

test('every request settles (answer, device error rc, timeout or transport error) and healthy devices keep working', async () => {
  // timeoutMs 0 (no timeout) for a debug-read session: this operator's mux allows it
  const mux = await createMux({ workers: 2, fleet: FLEET, noTimeoutTier: 'debug-read' });
  try {
    const s = mux.openSession();
    const tally: Record<string, number> = {};
    const note = (k: string): void => { tally[k] = (tally[k] ?? 0) + 1; };
    const ps = [];
    const big = new Uint8Array(0x18); // Get Log of the CEL: a multi-packet answer over MCTP at MTU 64
    big.set([0x0d, 0xa9, 0xc0, 0xb5, 0xbf, 0x41, 0x4b, 0x78, 0x8f, 0x79, 0x96, 0xb1, 0x62, 0x3b, 0x3f, 0x17], 0);
    new DataView(big.buffer).setUint32(0x14, 128, true);
    for (let i = 0; i < 2000; i++) {
      // a lost MCTP message holds the endpoint for its 100 ms response timeout: send fewer there
      const dev = ['mem0', 'mem1', 'mem2', 'mem3', 'mem4', 'mem5', 'nvme0', i % 48 === 7 ? 'mctp0' : 'mem1'][i % 8]!;
      const req = dev === 'nvme0' ? { device: dev, opcode: 0x06, cdw10: 1 }
        : dev === 'mctp0' ? { device: dev, opcode: 0x0401, payload: big }
          : { device: dev, opcode: i % 16 === 5 ? 0x0001 : 0x4200 };
      // Only what can hang has a timeout: the hung opcode, and MCTP (a lost message holds its endpoint until
      // the worker's response timeout). Everything else answers sooner or later, however loaded the machine,
      // so its counts below are exact; a timeout there would only measure the machine.
      const timeoutMs = (dev === 'mem5' && req.opcode === 0x4200) ? 300 : dev === 'mctp0' ? 10_000 : 0;
      ps.push(s.send({ ...req, timeoutMs }).then(
        (r) => note(`${dev}:${r.rc === 0 ? 'ok' : `rc${r.rc}`}`),
        (e: { code: string }) => note(`${dev}:${e.code}`),
      ));
    }
    let settled = false;
    const all = Promise.all(ps).then(() => (settled = true));
    await until(() => settled, 'every request settled (an answer, a device rc, a timeout or a transport error)', 60_000);
    await all;
    assert.is(Object.values(tally).reduce((a, b) => a + b), 2000);
    assert.is(tally['mem0:ok'], 250);
    assert.is(tally['mem1:ok'], 250 + 250 - 42);
    assert.ok((tally['mem2:rc6'] ?? 0) > 30 && (tally['mem2:ok'] ?? 0) > 100, 'busy storm: some Busy, most served');
    assert.ok((tally['mem3:rc4'] ?? 0) > 10, 'injected Internal Error rcs');
    assert.is(tally['mem4:ok'], 250, 'slow is not broken');
    assert.ok((tally['mem5:EMBX_TIMEOUT'] ?? 0) > 0 && (tally['mem5:ok'] ?? 0) > 0, 'a hang on one opcode times out; the device still serves others');
    assert.ok((tally['nvme0:rc8225'] ?? 0) > 0, 'NVMe busy = Command Interrupted (SCT 0, SC 21h), with M (2000h): it was logged');
    assert.ok((tally['mctp0:EMBX_TRANSPORT'] ?? 0) > 0 && (tally['mctp0:ok'] ?? 0) > 0, 'dropped fragments: transport errors, never corrupt answers');
    assert.is(mux.stats().inFlight, 0);
  } finally {
    await mux.close();
  }
});

test.run();
