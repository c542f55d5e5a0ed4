import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { BackgroundOp } from '../src/devices/cci/background.js';
import { executeCci, type ComponentState } from '../src/devices/cci/cci.js';
import { type CciRequest, CommandSet, newCciRequest, Via } from '../src/devices/cci/command-table.js';
import { Rc } from '../src/devices/cci/return-codes.js';
import { newType3State } from '../src/devices/cxl/type3.js';
import type { CompletionSink } from '../src/devices/endpoint.js';
import { FaultInjector } from '../src/devices/faults.js';
import { buildFleet } from '../src/fleet/expand.js';
import type { DeviceDescriptor, FaultSpec } from '../src/fleet/types.js';
import { CqFlag, packStatus, SqFlag, WorkerFailure } from '../src/shard/protocol.js';
import { MCTP_HOST_EID, MctpPccEndpoint } from '../src/transport/mctp-endpoint.js';
import { checkPccFrame } from '../src/transport/pcc-channel.js';
import { pccSubspaceBytes } from '../src/transport/pcc-layout.js';

const MS = 1e6;
const hex = (b: Uint8Array | null): string => (b === null ? '' : Buffer.from(b).toString('hex'));

interface Done {
  tag: number;
  target: number;
  opcode: number;
  flags: number;
  a0: number;
  a1: number;
  a2: number;
  body: Uint8Array | null;
}

class Sink implements CompletionSink {
  readonly done: Done[] = [];
  complete(tag: number, target: number, opcode: number, flags: number, a0: number, a1: number, a2: number, head: Uint8Array | null, body: Uint8Array | null): void {
    assert.is(head, null, 'the MCTP endpoint answers with a body only');
    this.done.push({ tag, target, opcode, flags, a0, a1, a2, body: body === null ? null : body.slice() });
  }
  take(): Done {
    assert.is(this.done.length, 1, 'exactly one completion');
    return this.done.pop()!;
  }
}

function setup(opts: { mtu?: number; faults?: FaultSpec | FaultInjector; mailboxBytes?: number } = {}) {
  const mctp: { kind: 'mctp-pcc'; count: number; fronts: string[]; mtu: number } = { kind: 'mctp-pcc', count: 1, fronts: ['mem0'], mtu: opts.mtu ?? 64 };
  const t3: { kind: 'cxl-type3'; count: number; mailboxBytes?: number } = { kind: 'cxl-type3', count: 1 };
  if (opts.mailboxBytes !== undefined) t3.mailboxBytes = opts.mailboxBytes;
  const fleet = buildFleet({ devices: [t3, mctp] }, 1);
  const mem = fleet.byId.get('mem0')!;
  const d = fleet.byId.get('mctp0')!;
  const arena = new SharedArrayBuffer(fleet.arenaBytes[0]!);
  const state = newType3State(mem);
  const ref = newType3State(mem);
  const sink = new Sink();
  const faults = opts.faults instanceof FaultInjector ? opts.faults
    : opts.faults ? new FaultInjector(opts.faults, d.serial) : FaultInjector.NONE;
  const ep = new MctpPccEndpoint(d, arena, state, sink, faults);
  return { fleet, mem, d, arena, state, ref, sink, ep };
}

/** What a direct executeCci on a mailbox-sized payload buffer returns. */
function direct(dev: ComponentState, mailboxBytes: number, opcode: number, input: Uint8Array, nowNs: number, via = Via.MCTP_CCI) {
  const req = newCciRequest(new Uint8Array(mailboxBytes));
  req.payload.set(input);
  req.opcode = opcode;
  req.inLen = input.byteLength;
  req.nowNs = nowNs;
  req.via = via;
  const rc = executeCci(dev, req);
  return { status: packStatus(rc, req.vendorStatus), out: req.payload.slice(0, req.outLen) };
}

/** A FaultInjector whose packet drops follow a script (the running packet index, both directions). */
class ScriptedFaults extends FaultInjector {
  private i = 0;
  constructor(private readonly dropAt: (i: number) => boolean, spec: FaultSpec) {
    super(spec, 7n);
  }
  override dropFragment(): boolean {
    return this.dropAt(this.i++);
  }
}

function scripted(drop: (i: number) => boolean, spec: FaultSpec = {}): FaultInjector {
  return new ScriptedFaults(drop, spec);
}

function getLogInput(offset: number, length: number): Uint8Array {
  const b = new Uint8Array(0x18);
  b.set(Buffer.from('0da9c0b5bf414b788f7996b1623b3f17', 'hex'), 0);
  const v = new DataView(b.buffer);
  v.setUint32(0x10, offset, true);
  v.setUint32(0x14, length, true);
  return b;
}

function lsaInput(offset: number, data: Uint8Array): Uint8Array {
  const b = new Uint8Array(8 + data.byteLength);
  new DataView(b.buffer).setUint32(0, offset, true);
  b.set(data, 8);
  return b;
}

function getLsaInput(offset: number, length: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, offset, true);
  v.setUint32(4, length, true);
  return b;
}

const pattern = (n: number, k = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + k * 17 + (i >> 8)) & 0xff);

for (const mtu of [64, 4096]) {
  test(`end to end at MTU ${mtu}: Identify, Get Health Info, Get Log (CEL), Set/Get LSA equal direct executeCci`, () => {
    const { ep, sink, state, ref, mem } = setup({ mtu });
    let now = 1e9;
    let tag = 100;
    const check = (opcode: number, input: Uint8Array, minPackets: number) => {
      const before = ep.stats.packets;
      ep.submit(++tag, opcode, 0, input, 0, 0, 0, now);
      const want = direct(ref, mem.mailboxBytes, opcode, input, now);
      const c = sink.take();
      assert.equal([c.tag, c.target, c.opcode, c.flags, c.a1, c.a2], [tag, ep.local, opcode, 0, 0, 0]);
      assert.is(c.a0, want.status, `status of ${opcode.toString(16)}`);
      assert.is(hex(c.body), hex(want.out.byteLength === 0 ? null : want.out), `output of ${opcode.toString(16)}`);
      const packets = ep.stats.packets - before;
      assert.ok(packets >= minPackets, `${opcode.toString(16)} took ${packets} packets`);
      assert.is(ep.deadline(), Infinity);
      now += MS;
      return c;
    };
    const id = check(0x0001, new Uint8Array(0), 2);
    assert.is(id.body!.byteLength, 18);
    assert.is(id.a0, 0);
    check(0x4200, new Uint8Array(0), 2);
    const logs = check(0x0400, new Uint8Array(0), 2);
    const celBytes = new DataView(logs.body!.buffer).getUint32(0x18, true);
    check(0x0401, getLogInput(0, celBytes), 2);
    check(0x0401, getLogInput(4, 8), 2);
    check(0x0401, getLogInput(0, celBytes + 4), 2); // error rc, empty payload
    check(0x4103, lsaInput(100, pattern(mem.mailboxBytes - 8)), mtu === 64 ? 64 : 2);
    const big = check(0x4102, getLsaInput(0, mem.mailboxBytes), mtu === 64 ? 65 : 3);
    assert.is(big.body!.byteLength, mem.mailboxBytes);
    check(0x4102, getLsaInput(0, mem.mailboxBytes + 1), 2); // Invalid Input from the handler
    check(0x4000, new Uint8Array(0), 2);
    check(0xc000, new Uint8Array(0), 2); // vendor set C0h on type 8: the device's own vendor command
    assert.is(ep.stats.answered, 11);
    assert.is(ep.stats.failed, 0);
    assert.equal(state.health, ref.health);
  });
}

test('the PCC frames in the arena: request in the outbox (type 3), response in the inbox (type 4)', () => {
  const { ep, sink, d, arena } = setup();
  ep.submit(1, 0x0001, 0, new Uint8Array(0), 0, 0, 0, 0);
  sink.take();
  const sub = pccSubspaceBytes(64);
  const outbox = new Uint8Array(arena, d.memOffset, sub);
  const inbox = new Uint8Array(arena, d.memOffset + sub, sub);
  const eid = d.mctp!.eid.toString(16).padStart(2, '0');
  // signature 50434300h | 0, flags 1, length 13 + 4 + 4 = 15h, "MCTP", then 01 eid 08 C8 | 08 | CCI request tag 00, 0001h
  assert.is(hex(outbox.subarray(16, 16 + 33)), '00434350' + '01000000' + '15000000' + '4d435450' + `01${eid}08c8` + '08' + '000000010000000000000000');
  assert.is(checkPccFrame(outbox.subarray(16), 0), 17);
  // the Identify response is 1 + 12 + 18 = 31 bytes: one packet, SOM|EOM, TO = 0, tag 0, from the device to EID 8
  assert.is(checkPccFrame(inbox.subarray(16), 1), 4 + 31);
  assert.is(hex(inbox.subarray(16, 16 + 16)), '01434350' + '01000000' + '27000000' + '4d435450');
  assert.is(hex(inbox.subarray(32, 32 + 4 + 13)), `0108${eid}c0` + '08' + '01' + '00' + '00' + '01' + '00' + '1200' + '00' + '0000' + '0000');
  assert.ok(ep.outbox.commandComplete(), 'outbox free after the exchange');
  assert.ok(ep.inbox.commandComplete(), 'inbox consumed');
  assert.not.ok(ep.outbox.doorbellRung() || ep.inbox.doorbellRung());
  assert.is(MCTP_HOST_EID, 8);
});

test('tags: the MCTP tag rotates 0..7 with TO = 1; the CCI tag counts per request; responses echo both', () => {
  const { ep, sink, d, arena } = setup();
  const outbox = new Uint8Array(arena, d.memOffset + 16, 64);
  const inbox = new Uint8Array(arena, d.memOffset + pccSubspaceBytes(64) + 16, 64);
  for (let i = 0; i < 20; i++) {
    ep.submit(i, 0x0001, 0, new Uint8Array(0), 0, 0, 0, i * MS);
    assert.is(sink.take().a0, 0);
    assert.is(outbox[16 + 3], 0xc8 | (i & 7), `request ${i}: SOM|EOM|TO|tag`);
    assert.is(outbox[16 + 4 + 1 + 1], i & 0xff, 'CCI tag');
    assert.is(inbox[16 + 3]! & 0x0f, i & 7, 'response: TO = 0 and the same tag');
    assert.is(inbox[16 + 4 + 1 + 1], i & 0xff, 'response echoes the CCI tag');
  }
});

// ------------------------------------------------------------------ binding rules with a spy component

function spyState(): { state: ComponentState; calls: { opcode: number; via: Via }[] } {
  const calls: { opcode: number; via: Via }[] = [];
  const h = (req: CciRequest) => {
    calls.push({ opcode: req.opcode, via: req.via });
    req.payload[0] = 0xaa;
    req.outLen = 1;
    return Rc.SUCCESS;
  };
  const commands = new CommandSet<ComponentState>('spy', [
    { opcode: 0x0001, name: 'Identify', input: 0, effects: 0, handler: (_d, r) => h(r) },
    { opcode: 0x5100, name: 'Identify Switch Device', input: 0, effects: 0, handler: (_d, r) => h(r) },
    { opcode: 0x5600, name: 'DCD', input: { min: 0 }, effects: 0, handler: (_d, r) => h(r) },
    { opcode: 0x5a00, name: 'beyond FM API', input: 0, effects: 0, handler: (_d, r) => h(r) },
  ]);
  const state: ComponentState = {
    commands,
    identity: { vendorId: 1, deviceId: 2, subsystemVendorId: 3, subsystemId: 4, serial: 5n, maxMessageSizeLog2: 12, componentType: 0 },
    bg: new BackgroundOp(),
    timestamp: null,
  };
  return { state, calls };
}

function spyEndpoint(faults: FaultInjector = FaultInjector.NONE) {
  const fleet = buildFleet({ devices: [{ kind: 'cxl-type3', count: 1 }, { kind: 'mctp-pcc', count: 1, fronts: ['mem0'], mtu: 64 }] }, 1);
  const d = fleet.byId.get('mctp0')! as DeviceDescriptor;
  const { state, calls } = spyState();
  const sink = new Sink();
  const ep = new MctpPccEndpoint(d, new SharedArrayBuffer(fleet.arenaBytes[0]!), state, sink, faults);
  return { ep, sink, calls, state };
}

test('type binding: FM API sets go on type 7 (via 7), others on type 8 (via 8); mismatches answer rc 03h without running', () => {
  const { ep, sink, calls } = spyEndpoint();
  const run = (opcode: number, flags = 0, a0 = 0) => {
    ep.submit(1, opcode, flags, new Uint8Array(0), a0, 0, 0, 0);
    return sink.take();
  };
  let c = run(0x5100);
  assert.equal([c.a0, hex(c.body)], [0, 'aa']);
  assert.equal(calls.pop(), { opcode: 0x5100, via: Via.MCTP_FM_API });
  c = run(0x0001);
  assert.equal([c.a0, hex(c.body)], [0, 'aa']);
  assert.equal(calls.pop(), { opcode: 0x0001, via: Via.MCTP_CCI });
  c = run(0x5600);
  assert.equal(calls.pop(), { opcode: 0x5600, via: Via.MCTP_FM_API }, 'r3.2 FM API sets reach 59h');
  for (const [opcode, type] of [[0x5100, 8], [0x0001, 7], [0x5a00, 7], [0x5a00, 8]] as const) {
    c = run(opcode, SqFlag.MCTP_TYPE, type);
    assert.equal([c.flags, c.a0, c.body], [0, packStatus(Rc.UNSUPPORTED, 0), null], `${opcode.toString(16)} on type ${type}`);
  }
  assert.is(calls.length, 0, 'mismatched commands never reached the component');
  c = run(0x5100, SqFlag.MCTP_TYPE, 7);
  assert.is(c.a0, 0, 'explicit type 7 for an FM API set is fine');
});

test('BO bit in the response becomes CqFlag.BACKGROUND while a background operation runs', () => {
  const { ep, sink, state } = spyEndpoint();
  state.bg.start(0x4400, 0, 10 * MS, () => Rc.SUCCESS);
  ep.submit(1, 0x0001, 0, new Uint8Array(0), 0, 0, 0, 1 * MS);
  assert.is(sink.take().flags, CqFlag.BACKGROUND);
  ep.submit(2, 0x0001, 0, new Uint8Array(0), 0, 0, 0, 20 * MS);
  assert.is(sink.take().flags, 0);
});

test('unsupported message types (0, 5, IC set) are dropped after assembly: FAILED transport after the timeout', () => {
  const { ep, sink, calls } = spyEndpoint();
  let now = 1e9;
  for (const type of [0x00, 0x05, 0x7f, 0x88, 0x87]) {
    ep.submit(7, 0x0001, SqFlag.MCTP_TYPE, new Uint8Array(0), type, 0, 0, now);
    assert.is(sink.done.length, 0, 'no answer yet');
    assert.is(ep.deadline(), now + 100 * MS);
    assert.is(ep.poll(now + 99 * MS), now + 100 * MS);
    assert.is(sink.done.length, 0);
    ep.poll(now + 100 * MS);
    const c = sink.take();
    assert.equal([c.tag, c.opcode, c.flags, c.a0, c.a1], [7, 0x0001, CqFlag.FAILED, 0, WorkerFailure.TRANSPORT]);
    const text = Buffer.from(c.body!).toString('utf8');
    assert.match(text, /mctp0: no response to opcode 0001h/);
    assert.match(text, /within 100 ms/);
    assert.match(text, /unsupported message type/);
    now += 1e9;
  }
  assert.is(calls.length, 0);
  ep.submit(8, 0x0001, 0, new Uint8Array(0), 0, 0, 0, now);
  assert.is(sink.take().a0, 0, 'the endpoint still works');
});

test('a dropped request fragment fails the request (FAILED, TRANSPORT, reason) 100 ms later', () => {
  const { ep, sink } = setup({ faults: { dropFragments: 1 } });
  ep.submit(3, 0x4200, 0, new Uint8Array(0), 0, 0, 0, 5 * MS);
  assert.is(sink.done.length, 0);
  assert.is(ep.poll(104 * MS), 105 * MS);
  ep.poll(105 * MS);
  const c = sink.take();
  assert.equal([c.tag, c.opcode, c.flags, c.a1], [3, 0x4200, CqFlag.FAILED, WorkerFailure.TRANSPORT]);
  assert.match(Buffer.from(c.body!).toString(), /request packet 1 of 1 dropped \(faults\.dropFragments\)/);
  assert.is(ep.stats.droppedPackets, 1);
});

test('a dropped response fragment (packet 3 of a 65-packet Get LSA) fails after the timeout; the next request works', () => {
  // request Get LSA = 1 packet (index 0); response packets are indexes 1..65: drop the third
  const { ep, sink, mem } = setup({ faults: scripted((i) => i === 3) });
  ep.submit(9, 0x4102, 0, getLsaInput(0, mem.mailboxBytes), 0, 0, 0, 0);
  assert.is(sink.done.length, 0);
  ep.poll(100 * MS);
  const c = sink.take();
  assert.equal([c.flags, c.a1], [CqFlag.FAILED, WorkerFailure.TRANSPORT]);
  assert.match(Buffer.from(c.body!).toString(), /response packet 3 of 65 dropped/);
  ep.submit(10, 0x4102, 0, getLsaInput(0, mem.mailboxBytes), 0, 0, 0, 200 * MS);
  const ok = sink.take();
  assert.equal([ok.tag, ok.flags, ok.a0, ok.body!.byteLength], [10, 0, 0, mem.mailboxBytes]);
});

test('a lost EOM leaves a partial assembly that never leaks into later messages', () => {
  // drop the last request packet of a multi-packet Set LSA, then run many requests on the same tags
  const { ep, sink, ref, mem } = setup({ faults: scripted((i) => i === 2) });
  const input = lsaInput(0, pattern(150, 3)); // 1 + 12 + 158 = 171 bytes: 3 packets
  ep.submit(1, 0x4103, 0, input, 0, 0, 0, 0);
  ep.poll(100 * MS);
  assert.is(sink.take().flags, CqFlag.FAILED);
  for (let i = 0; i < 10; i++) {
    const lsa = lsaInput(i * 10, pattern(150, i));
    ep.submit(2 + i, 0x4103, 0, lsa, 0, 0, 0, (200 + i) * MS);
    assert.is(sink.take().a0, 0);
    direct(ref, mem.mailboxBytes, 0x4103, lsa, 0);
  }
  ep.submit(50, 0x4102, 0, getLsaInput(0, 512), 0, 0, 0, 300 * MS);
  assert.is(hex(sink.take().body), hex(direct(ref, mem.mailboxBytes, 0x4102, getLsaInput(0, 512), 0).out));
});

test('property: random packet drops in either direction never produce a wrong answer (exact result or FAILED)', () => {
  const seen = { ok: 0, failed: 0 };
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 11 }), { minLength: 1, maxLength: 200 }), fc.integer({ min: 0, max: 600 }), (dice, lsaOff) => {
    const { ep, sink, ref, mem } = setup({ faults: scripted((i) => dice[i % dice.length] === 0) });
    let now = 0;
    for (const [opcode, input] of [[0x4102, getLsaInput(lsaOff, 1000)], [0x0001, new Uint8Array(0)], [0x4103, lsaInput(lsaOff, pattern(300, lsaOff))]] as const) {
      ep.submit(1, opcode, 0, input, 0, 0, 0, now);
      ep.poll(now + 100 * MS);
      const c = sink.take();
      if (c.flags === CqFlag.FAILED) {
        assert.is(c.a1, WorkerFailure.TRANSPORT);
        seen.failed++;
      } else {
        seen.ok++;
        const want = direct(ref, mem.mailboxBytes, opcode, input, now);
        assert.equal([c.a0, hex(c.body)], [want.status, hex(want.out.byteLength ? want.out : null)]);
      }
      now += 200 * MS;
    }
  }), { numRuns: 150 });
  assert.ok(seen.ok > 50 && seen.failed > 50, `both outcomes exercised: ${JSON.stringify(seen)}`);
});

test('requests are served in FIFO order; slowMs delays each answer like the mailbox', () => {
  const { ep, sink } = setup({ faults: { slowMs: 5 } });
  ep.submit(1, 0x0001, 0, new Uint8Array(0), 0, 0, 0, 0);
  ep.submit(2, 0x4200, 0, new Uint8Array(0), 0, 0, 0, 0);
  ep.submit(3, 0x0001, 0, new Uint8Array(0), 0, 0, 0, 0);
  assert.is(sink.done.length, 0);
  assert.is(ep.deadline(), 5 * MS);
  ep.poll(4 * MS);
  assert.is(sink.done.length, 0);
  assert.is(ep.poll(5 * MS), 10 * MS, 'the second starts when the first is answered');
  assert.equal(sink.done.map((c) => c.tag), [1]);
  ep.poll(10 * MS);
  ep.poll(15 * MS);
  assert.equal(sink.done.map((c) => [c.tag, c.flags, c.a0]), [[1, 0, 0], [2, 0, 0], [3, 0, 0]]);
});

test('a slow device whose response is lost fails 100 ms after the response was sent, not before', () => {
  const { ep, sink } = setup({ faults: scripted((i) => i === 1, { slowMs: 50 }) });
  ep.submit(1, 0x0001, 0, new Uint8Array(0), 0, 0, 0, 0);
  assert.is(ep.poll(50 * MS), 150 * MS);
  ep.poll(149 * MS);
  assert.is(sink.done.length, 0);
  ep.poll(150 * MS);
  assert.is(sink.take().flags, CqFlag.FAILED);
});

test('hang: the device never answers (no transport timeout); cancel frees the endpoint; queued requests cancel too', () => {
  const { ep, sink } = setup({ faults: { hang: [0x4200] } });
  ep.submit(1, 0x4200, 0, new Uint8Array(0), 0, 0, 0, 0);
  ep.submit(2, 0x0001, 0, new Uint8Array(0), 0, 0, 0, 0);
  ep.submit(3, 0x0001, 0, new Uint8Array(0), 0, 0, 0, 0);
  assert.is(ep.deadline(), Infinity);
  assert.is(ep.poll(60e9), Infinity);
  assert.is(sink.done.length, 0);
  ep.cancel(3, 60e9);
  assert.equal(sink.done.map((c) => [c.tag, c.flags]), [[3, CqFlag.CANCELLED]]);
  ep.cancel(1, 61e9);
  assert.equal(sink.done.map((c) => [c.tag, c.flags]), [[3, CqFlag.CANCELLED], [1, CqFlag.CANCELLED], [2, 0]]);
  ep.cancel(99, 62e9);
  assert.is(sink.done.length, 3, 'unknown tag: nothing');
  assert.is(ep.stats.cancelled, 2);
});

test('cancel while waiting for the transport timeout answers CANCELLED and never FAILED', () => {
  const { ep, sink } = setup({ faults: { dropFragments: 1 } });
  ep.submit(1, 0x0001, 0, new Uint8Array(0), 0, 0, 0, 0);
  ep.cancel(1, 10 * MS);
  assert.is(sink.take().flags, CqFlag.CANCELLED);
  assert.is(ep.deadline(), Infinity);
  ep.poll(1e9);
  assert.is(sink.done.length, 0);
});

test('busy and error faults answer through MCTP like the mailbox; crashOn throws from submit', () => {
  let s = setup({ faults: { busy: 1 } });
  s.ep.submit(1, 0x0001, 0, new Uint8Array(0), 0, 0, 0, 0);
  assert.equal(((c) => [c.flags, c.a0, c.body])(s.sink.take()), [0, packStatus(Rc.BUSY, 0), null]);
  s = setup({ faults: { error: 1, errorRc: Rc.INTERNAL_ERROR } });
  s.ep.submit(1, 0x4200, 0, new Uint8Array(0), 0, 0, 0, 0);
  assert.is(s.sink.take().a0, packStatus(Rc.INTERNAL_ERROR, 0));
  s = setup({ faults: { crashOn: 0x4200 } });
  assert.throws(() => s.ep.submit(1, 0x4200, 0, new Uint8Array(0), 0, 0, 0, 0), /injected crash: device mctp0/);
});

test('an input larger than the fronted device message limit answers Invalid Payload Length without sending', () => {
  const { ep, sink, mem } = setup({ mailboxBytes: 256 });
  ep.submit(1, 0x4103, 0, new Uint8Array(mem.mailboxBytes + 1), 0, 0, 0, 0);
  assert.equal(((c) => [c.flags, c.a0])(sink.take()), [0, packStatus(Rc.INVALID_PAYLOAD_LENGTH, 0)]);
  assert.is(ep.stats.packets, 0);
  ep.submit(2, 0x4103, 0, lsaInput(0, new Uint8Array(mem.mailboxBytes - 8)), 0, 0, 0, 0);
  assert.is(sink.take().a0, 0, 'exactly the limit passes');
});

test('constructor refuses a non-MCTP descriptor and an arena too small for the PCC block', () => {
  const { mem, d, state, sink } = setup();
  assert.throws(() => new MctpPccEndpoint(mem, new SharedArrayBuffer(1 << 16), state, sink, FaultInjector.NONE), /not an MCTP endpoint/);
  assert.throws(() => new MctpPccEndpoint(d, new SharedArrayBuffer(d.memOffset + 16), state, sink, FaultInjector.NONE), /outside/);
});

test.run();
