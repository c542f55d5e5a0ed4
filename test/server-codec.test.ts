import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameWriter, fastDecodeMap, packr, unpackr } from '../src/server/fast-msgpack.js';
import { decodeMap, encodeFrame, errorFromWire, FrameDecoder, parseClientFrame } from '../src/server/frames.js';
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
const flatMap = fc.dictionary(key, flatValue, { maxKeys: 20 });

test('FrameWriter frames decode with msgpackr to the same map; fastDecodeMap agrees with msgpackr', () => {
  fc.assert(fc.property(fc.array(flatMap, { minLength: 1, maxLength: 5 }), (maps) => {
    const w = new FrameWriter();
    for (const m of maps) w.frame(m);
    const bodies = new FrameDecoder().push(w.take()!);
    assert.is(bodies.length, maps.length);
    bodies.forEach((body, i) => {
      const slow = unpackr.unpack(body);
      assert.equal(norm(slow), norm(maps[i]));
      const fast = fastDecodeMap(body);
      if (fast !== null) assert.equal(norm(fast), norm(slow));
    });
  }), { numRuns: 150 });
});

test('nested values go through msgpackr inside a hand-written frame', () => {
  const w = new FrameWriter();
  const m = { type: 'res', id: 7, tunnel: { hops: [{ opcode: 0x5300, rc: 0, vendorStatus: 0 }], failedAt: -1 }, devices: [{ id: 'mem0' }], big: 2 ** 40, neg: -5 };
  w.frame(m);
  const [body] = new FrameDecoder().push(w.take()!);
  assert.equal(unpackr.unpack(body!), m);
  assert.is(fastDecodeMap(body!), null); // nested: falls back
  assert.equal(decodeMap(body!), m);
});

test('fastDecodeMap is null or equal to msgpackr on anything msgpackr packs, and on random bytes', () => {
  fc.assert(fc.property(fc.anything({ maxDepth: 2 }), (v) => {
    let body: Uint8Array;
    try {
      body = packr.pack(v);
    } catch {
      return;
    }
    const fast = fastDecodeMap(body);
    if (fast !== null) assert.equal(norm(fast), norm(unpackr.unpack(body)));
  }), { numRuns: 300 });
  fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
    const fast = fastDecodeMap(bytes);
    if (fast !== null) assert.equal(norm(fast), norm(unpackr.unpack(bytes)));
  }), { numRuns: 2000 });
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
    'readHealth', 'decodeType3Health', 'decodeNvmeSmart', 'decodePortStates', 'resolveCommand', 'commandName', 'grantSession', 'encodeFrame', 'FrameDecoder']) {
    assert.ok((server as Record<string, unknown>)[name], name);
  }
});

test.run();
