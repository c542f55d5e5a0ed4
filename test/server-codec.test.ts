import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameWriter, packr } from '../src/server/msgpack.js';
import { decodeMap, decodePlainMap, encodeFrame, errorFromWire, FrameDecoder, parseClientFrame } from '../src/server/frames.js';
import { grantSession } from '../src/server/session-caps.js';
import * as server from '../src/server/index.js';
import { isLoopback } from '../src/server/socket-server.js';

/** Buffers and Uint8Arrays compare as their bytes; a "constructor" key is renamed (uvu's deep equal reads .constructor). */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (Array.isArray(v)) return v.map(norm);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k === 'constructor' ? '#constructor' : k, norm(x)]));
  return v;
}

const key = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.string({ minLength: 1, maxLength: 10, unit: 'grapheme' })).filter((k) => k !== '__proto__');
const flatValue = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
  fc.double({ noNaN: true }),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 300 }),
  fc.string({ maxLength: 60, unit: 'grapheme' }),
  fc.uint8Array({ maxLength: 70_000 }).map((a) => a),
);
const flatMap = fc.dictionary(key, fc.option(flatValue, { nil: undefined, freq: 8 }), { maxKeys: 20 });
const ascii = (t: string): number[] => [...Buffer.from(t, 'latin1')];

test('FrameWriter frames decode to the same maps, keys whose value is undefined left out', () => {
  fc.assert(fc.property(fc.array(flatMap, { minLength: 1, maxLength: 5 }), (maps) => {
    const w = new FrameWriter();
    for (const m of maps) w.frame(m);
    const bodies = new FrameDecoder().push(w.take()!);
    assert.is(bodies.length, maps.length);
    bodies.forEach((body, i) => {
      const defined = Object.fromEntries(Object.entries(maps[i]!).filter(([, v]) => v !== undefined));
      assert.equal(norm(decodePlainMap(body)), norm(defined));
    });
  }), { numRuns: 150 });
});

test('FrameWriter writes the protocol\'s bytes: big-endian length, then a plain MessagePack map', () => {
  const w = new FrameWriter();
  w.frame({ type: 'req', id: 1, device: 'mem0', opcode: 0x4200, timeoutMs: undefined });
  const body = [
    0x84, // fixmap, 4 entries (timeoutMs: undefined is left out)
    0xa4, ...ascii('type'), 0xa3, ...ascii('req'),
    0xa2, ...ascii('id'), 0x01, // positive fixint
    0xa6, ...ascii('device'), 0xa4, ...ascii('mem0'),
    0xa6, ...ascii('opcode'), 0xcd, 0x42, 0x00, // uint16, big-endian
  ];
  assert.equal([...w.take()!], [0, 0, 0, body.length, ...body]);
  assert.is(w.take(), null, 'nothing more was written');
});

test('decodeMap reads hand-written MessagePack bytes of a res frame', () => {
  const body = Uint8Array.from([
    0x86, // fixmap, 6 entries
    0xa4, ...ascii('type'), 0xa3, ...ascii('res'),
    0xa2, ...ascii('id'), 0xce, 0x01, 0x02, 0x03, 0x04, // uint32
    0xa2, ...ascii('rc'), 0xcc, 0x80, // uint8
    0xa7, ...ascii('payload'), 0xc4, 0x03, 0xde, 0xad, 0x01, // bin8
    0xac, ...ascii('vendorStatus'), 0xcd, 0xbe, 0xef, // uint16
    0xaa, ...ascii('background'), 0xc3, // true
  ]);
  assert.equal(norm(decodeMap(body)), norm({ type: 'res', id: 0x01020304, rc: 0x80, payload: Uint8Array.from([0xde, 0xad, 0x01]), vendorStatus: 0xbeef, background: true }));
  // negative fixint, int32, float64, nil, str8 value under a str8 key (map16 header)
  const long = 'k'.repeat(40);
  const more = Uint8Array.from([
    0xde, 0x00, 0x04,
    0xa1, ...ascii('a'), 0xff,
    0xa1, ...ascii('b'), 0xd2, 0xff, 0xff, 0xff, 0x00,
    0xa1, ...ascii('c'), 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,
    0xd9, 40, ...ascii(long), 0xc0,
  ]);
  assert.equal(decodePlainMap(more), { a: -1, b: -256, c: 1.5, [long]: null });
});

test('every frame the server sends and every frame a client sends round-trips, nested values too', () => {
  const bin = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff);
  const frames: Record<string, unknown>[] = [
    // socket-server answer(): CXL, NVMe (cqe), background bit, payload sizes across bin8/bin16/bin32, large ids and codes
    { type: 'res', id: 0, rc: 0, payload: bin(0), vendorStatus: 0, background: false },
    { type: 'res', id: 4_294_967_295, rc: 0x16, payload: bin(300), vendorStatus: 0xffff, background: true },
    { type: 'res', id: 70_000, rc: 0, payload: bin(4096), vendorStatus: 0, background: false, cqe: bin(16) },
    { type: 'res', id: 12, rc: 0x4002, payload: bin(70_000), vendorStatus: 0, background: false, cqe: bin(16) },
    { type: 'res', id: 7, tunnel: { hops: [{ opcode: 0x5300, rc: 0, vendorStatus: 0 }], failedAt: -1 }, devices: [{ id: 'mem0' }], big: 2 ** 40, neg: -5 },
    // socket-server fail() without context, and the fatal error frame
    { type: 'err', id: 3, code: 'EMBX_TIMEOUT', message: 'mem2 did not answer opcode 0x4200 within the timeout; raise timeoutMs or check the device\'s faults' },
    { type: 'err', id: 9, code: 'EMBX_PERMISSION', message: 'x'.repeat(300) },
    { type: 'error', code: 'EMBX_CLOSED', message: 'the server is shutting down' },
    { type: 'error', code: 'EMBX_PROTOCOL', message: 'frame length 0 is outside 1..16777216 bytes — non-ASCII text' },
    // welcome without the device list
    { type: 'welcome', protocol: 1, session: 'conn-1:x', tier: 'debug-read', requestedTier: 'debug-write', host: 1, fabricManager: false, maxFrameBytes: 16 * 1024 * 1024 },
    // client frames the server reads
    { type: 'hello', tier: 'debug-read', host: 0, fabricManager: true, name: 'agent', devices: false },
    { type: 'req', id: 1, device: 'mem0', opcode: 0x4200 },
    { type: 'req', id: 2, device: 'mem1', opcode: 0x4103, payload: bin(1000), timeoutMs: 250 },
    { type: 'req', id: 3, device: 'nvme0', opcode: 0x06, nsid: 0xffffffff, cdw10: 1, cdw11: 0, cdw12: -1, data: bin(512), mctpType: 8 },
  ];
  const w = new FrameWriter();
  for (const f of frames) w.frame(f);
  const bodies = new FrameDecoder().push(w.take()!);
  assert.is(bodies.length, frames.length);
  bodies.forEach((body, i) => assert.equal(norm(decodeMap(body)), norm(frames[i]), `frame #${i}`));
});

test('decodePlainMap on any bytes: a plain map, or EMBX_PROTOCOL', () => {
  const check = (bytes: Uint8Array): void => {
    try {
      const m = decodePlainMap(bytes);
      assert.is(Object.getPrototypeOf(m), Object.prototype);
    } catch (e) {
      assert.is((e as { code?: string }).code, 'EMBX_PROTOCOL', String(e));
    }
  };
  fc.assert(fc.property(fc.anything({ maxDepth: 2 }), (v) => {
    let body: Uint8Array;
    try {
      body = packr.pack(v);
    } catch {
      return;
    }
    check(body);
  }), { numRuns: 300 });
  fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), check), { numRuns: 2000 });
});

test('FrameDecoder: any split of the stream yields the same frames; bad lengths throw', () => {
  const frames = [{ type: 'req', id: 1, device: 'mem0', opcode: 0x4200 }, { type: 'req', id: 2, device: 'nvme0', opcode: 6, cdw10: 1, payload: new Uint8Array(300) }];
  const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: stream.byteLength }), { maxLength: 6 }), (cuts) => {
    const points = [...new Set(cuts)].sort((a, b) => a - b);
    const d = new FrameDecoder();
    const got: unknown[] = [];
    let at = 0;
    for (const p of [...points, stream.byteLength]) {
      for (const b of d.push(stream.subarray(at, p))) got.push(decodeMap(b));
      at = p;
    }
    assert.equal(norm(got), norm(frames));
    assert.is(d.buffered, 0);
  }), { numRuns: 200 });
  const d = new FrameDecoder(1024);
  assert.throws(() => d.push(Buffer.from([0, 0, 4, 1])), /outside 1\.\.1024/);
  assert.throws(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 0])), /outside/);
});

test('client frame validation: types, unknown frame types, hello fields', () => {
  const ok = parseClientFrame({ type: 'req', id: 3, device: 'mem0', opcode: 1, payload: new Uint8Array(2), tunnel: [1, 2], cdw10: 5, extra: 'ignored' });
  assert.equal(norm(ok), norm({ type: 'req', id: 3, device: 'mem0', opcode: 1, payload: new Uint8Array(2), cdw10: 5, tunnel: [1, 2] }));
  for (const bad of [
    { type: 'req', id: -1, device: 'mem0', opcode: 1 }, { type: 'req', id: 1.5, device: 'mem0', opcode: 1 },
    { type: 'req', id: 1, device: 7, opcode: 1 }, { type: 'req', id: 1, device: 'mem0' }, { type: 'req', id: 1, device: 'm', opcode: 1, cdw10: 'x' },
    { type: 'req', id: 1, device: 'm', opcode: 1, tunnel: 'x' }, { type: 'req', id: 1, device: 'm', opcode: 1, data: [1] },
    { type: 'hello', tier: 'root' }, { type: 'hello', host: 70000 }, { type: 'hello', fabricManager: 'yes' }, { type: 'hello', name: 5 },
    { type: 'effects', id: 1 }, { type: 'devices' }, { type: 'bogus' },
  ]) {
    assert.throws(() => parseClientFrame(bad as never), /./, JSON.stringify(bad));
  }
});

test('session caps: tier capped, FM only if allowed, hosts restricted', () => {
  assert.equal(grantSession({ maxTier: 'debug-read' }, { tier: 'debug-write-full', fabricManager: true }), {
    tier: 'debug-read', requestedTier: 'debug-write-full', host: 0, fabricManager: false,
    notes: ['tier debug-write-full capped to debug-read', 'fabric-manager session refused (not allowed for this client)'],
  });
  assert.is(grantSession({ maxTier: 'debug-write' }, { tier: 'configuration' }).tier, 'configuration');
  assert.is(grantSession({ allowFabricManager: true }, { fabricManager: true }).fabricManager, true);
  assert.throws(() => grantSession({ allowedHosts: [1] }, { host: 0 }), /host 0 is not served here/);
  assert.is(grantSession({ allowedHosts: [1] }, { host: 1 }).host, 1);
});

test('errors round-trip by code; loopback detection', () => {
  for (const code of ['EMBX_BAD_REQUEST', 'EMBX_UNKNOWN_DEVICE', 'EMBX_PERMISSION', 'EMBX_RING_FULL', 'EMBX_BACKPRESSURE', 'EMBX_TIMEOUT',
    'EMBX_ABORTED', 'EMBX_WORKER_LOST', 'EMBX_CLOSED', 'EMBX_BAD_FLEET', 'EMBX_TRANSPORT', 'EMBX_PROTOCOL']) {
    const e = errorFromWire(code, 'm', { a: 1 });
    assert.is(e.code, code);
    assert.equal(e.context, { a: 1 });
  }
  assert.is(errorFromWire('EMBX_WHAT', 'm').code, 'EMBX_PROTOCOL');
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) assert.ok(isLoopback(h), h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'example.com', '128.0.0.1']) assert.not.ok(isLoopback(h), h);
});

test('the server barrel exports the public names', () => {
  for (const name of ['SocketServer', 'SocketClient', 'connectSocket', 'Recorder', 'createRecorder', 'readRecording', 'replayRecording', 'replayOn',
    'readHealth', 'decodeType3Health', 'decodeNvmeSmart', 'decodePortStates', 'resolveCommand', 'commandName', 'commandTarget', 'effectsView', 'decodeAnswer', 'followBackground', 'DeviceTools', 'grantSession', 'encodeFrame', 'FrameDecoder']) {
    assert.ok((server as Record<string, unknown>)[name], name);
  }
});

test.run();
