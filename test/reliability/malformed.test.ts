import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, type FleetFile, type SendRequest } from '../../src/index.js';

/**
 * A malformed device answer settles that one request with EMBX_PROTOCOL (EMBX_TRANSPORT over MCTP, whose host
 * discards it) and nothing else: not the process, not the enumeration, not the other answers of the same
 * completion batch (issue 11, item 9). faults.malformed injects it.
 */

// mem0, mem1 healthy; mem2 answers Get Health Info with a Payload Length past its mailbox; sw0 answers every
// 5300h with a Response Length one byte longer than the response, so mld0's effects log (read through sw0
// while createMux enumerates) arrives malformed; mctp0 fronts mem0 and malforms Get Health Info.
// sw0's default topology: port 1 mem3, port 2 mld0 (LDs mem4..mem7), port 3 mem8.
const FLEET: FleetFile = {
  devices: [
    { kind: 'cxl-type3', count: 2 },
    { kind: 'cxl-type3', count: 1, faults: { malformed: [0x4200] } },
    { kind: 'cxl-switch', count: 1, faults: { malformed: [0x5300] } },
    { kind: 'mctp-pcc', fronts: ['mem0'], faults: { malformed: [0x4200] } },
  ],
};
const HEALTH = 0x4200;
const IDENTIFY_SWITCH = 0x5100;

test('faults.malformed is refused where it has no meaning and for non-opcodes', async () => {
  for (const faults of [{ malformed: [0x10000] }, { malformed: 'yes' }]) {
    const c = await createMux({ workers: 1, fleet: { devices: [{ kind: 'cxl-type3', faults: faults as never }] } }).then(() => 'ok', (e: { code: string }) => e.code);
    assert.is(c, 'EMBX_BAD_FLEET');
  }
  const nvme = await createMux({ workers: 1, fleet: { devices: [{ kind: 'nvme', faults: { malformed: true } }] } }).then(() => 'ok', (e: { code: string }) => e.code);
  assert.is(nvme, 'EMBX_BAD_FLEET');
});

test('a malformed answer at enumeration fails only that device\'s log; at run time only that request, the rest of the batch completes', async () => {
  const mux = await createMux({ workers: 1, fleet: FLEET });
  try {
    const failed = mux.enumeration!.failed;
    assert.equal(failed.map((f) => f.device), ['mld0'], 'only the MLD, whose log is read through the malformed tunnel');
    assert.match(failed[0]!.reason, /Response Length/);
    assert.is(mux.enumeration!.enumerated, mux.fleet.devices.filter((d) => d.kind !== 'mctp-pcc').length - 1);

    const s = mux.openSession({ tier: 'debug-read', fabricManager: true });
    const reqs: [string, SendRequest][] = [];
    for (let i = 0; i < 40; i++) {
      reqs.push(['mem0 health', { device: 'mem0', opcode: HEALTH }], ['mem1 health', { device: 'mem1', opcode: HEALTH }]);
      if (i % 10 === 0) {
        reqs.push(['mem2 health', { device: 'mem2', opcode: HEALTH }], ['sw0 tunnel', { device: 'sw0', opcode: HEALTH, tunnel: [1] }],
          ['sw0 identify', { device: 'sw0', opcode: IDENTIFY_SWITCH }], ['mem2 identify', { device: 'mem2', opcode: 0x0001 }]);
      }
    }
    reqs.push(['mctp0 health', { device: 'mctp0', opcode: HEALTH }]);
    // one burst: the malformed answers come back in the same completion batches as the good ones
    const got = await Promise.all(reqs.map(([what, r]) => s.send(r).then(
      (x) => `${what}: rc${x.rc}`,
      (e: { code: string; message: string }) => `${what}: ${e.code}`)));
    const tally: Record<string, number> = {};
    for (const g of got) tally[g] = (tally[g] ?? 0) + 1;
    assert.equal(tally, {
      'mem0 health: rc0': 40,
      'mem1 health: rc0': 40,
      'mem2 health: EMBX_PROTOCOL': 4,
      'mem2 identify: rc0': 4,
      'sw0 tunnel: EMBX_PROTOCOL': 4,
      'sw0 identify: rc0': 4,
      'mctp0 health: EMBX_TRANSPORT': 1,
    });
    const err = await s.send({ device: 'sw0', opcode: HEALTH, tunnel: [1] }).catch((e: Error) => e);
    assert.match((err as Error).message, /Response Length/);
    assert.is((err as { name: string }).name, 'ProtocolError');
    const mb = await s.send({ device: 'mem2', opcode: HEALTH }).catch((e: Error) => e);
    assert.match((mb as Error).message, /Payload Length of 4097 bytes, more than its 4096-byte payload registers/);
    const st = mux.stats();
    assert.is(st.inFlight, 0);
    assert.ok(st.shards.every((x) => x.status === 'ready' && x.generation === 0), 'no worker restarted');
  } finally {
    await mux.close();
  }
});

test.run();
