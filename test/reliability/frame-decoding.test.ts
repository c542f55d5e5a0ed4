import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeMap, encodeFrame, FrameDecoder } from '../../src/server/frames.js';
import { readRecording } from '../../src/server/recorder.js';

/**
 * Issue 11 item 6: the frame decoder joined its whole buffer on every chunk, so a frame of n bytes arriving in
 * chunks of c bytes cost n^2/2c bytes copied (one 16 MiB frame: 7-20 s of the server's main thread; a 64 MiB
 * torn record in a recording: over 30 s). Measured here without a clock: every byte Buffer.concat or
 * Buffer#copy moves is counted while the decoder runs.
 */

/** Counts the bytes Buffer.concat and Buffer#copy move from now until the returned function is called. */
function countCopies(): () => number {
  const concat = Buffer.concat;
  const copy = Buffer.prototype.copy;
  let copied = 0;
  Buffer.concat = function (list: readonly Uint8Array[], total?: number): Buffer {
    const out = concat.call(Buffer, list, total);
    copied += out.byteLength;
    return out;
  } as typeof Buffer.concat;
  Buffer.prototype.copy = function (this: Buffer, target: Uint8Array, ts?: number, ss?: number, se?: number): number {
    const n = copy.call(this, target, ts, ss, se);
    copied += n;
    return n;
  };
  return () => {
    Buffer.concat = concat;
    Buffer.prototype.copy = copy;
    return copied;
  };
}

/** Bytes moved by Buffer.concat and Buffer#copy while `fn` runs. */
function bytesCopiedBy<T>(fn: () => T): { result: T; copied: number } {
  const stop = countCopies();
  try {
    const result = fn();
    return { result, copied: stop() };
  } catch (e) {
    stop();
    throw e;
  }
}

/** One frame of `bodyBytes` bytes (a map with a binary field). */
function bigFrame(bodyBytes: number): Buffer {
  return encodeFrame({ type: 'req', id: 1, device: 'mem0', opcode: 0x4103, payload: new Uint8Array(bodyBytes - 64).fill(0xa5) });
}

test('a 16 MiB frame arriving in 64 KiB chunks is copied once, not once per chunk', () => {
  const frame = bigFrame(16 * 1024 * 1024 - 16);
  const chunk = 64 * 1024;
  const d = new FrameDecoder(32 * 1024 * 1024);
  const { result: bodies, copied } = bytesCopiedBy(() => {
    const out: Buffer[] = [];
    for (let at = 0; at < frame.byteLength; at += chunk) out.push(...d.push(frame.subarray(at, at + chunk)));
    return out;
  });
  assert.is(bodies.length, 1);
  assert.is(bodies[0]!.byteLength, frame.byteLength - 4);
  assert.equal(decodeMap(bodies[0]!).id, 1);
  // linear: at most the frame itself (the joined copy); quadratic decoding moved ~n^2/2c = 2 GiB here
  assert.ok(copied <= frame.byteLength, `copied ${copied} bytes for a ${frame.byteLength}-byte frame`);
});

test('bytes copied grow linearly with the frame: doubling the frame at most doubles the copying', () => {
  const cost = (n: number): number => {
    const frame = bigFrame(n);
    const d = new FrameDecoder(64 * 1024 * 1024);
    return bytesCopiedBy(() => {
      for (let at = 0; at < frame.byteLength; at += 16 * 1024) d.push(frame.subarray(at, at + 16 * 1024));
    }).copied;
  };
  const one = cost(1 << 20);
  const two = cost(2 << 20);
  const four = cost(4 << 20);
  assert.ok(two <= 2 * one + 64 && four <= 2 * two + 64, `copied ${one}, ${two}, ${four} bytes for 1, 2, 4 MiB`);
});

test('frames inside one chunk are views (no copy); a frame split across chunks is copied exactly once', () => {
  const small = [1, 2, 3].map((id) => encodeFrame({ type: 'req', id, device: 'mem0', opcode: 0x4200 }));
  const d = new FrameDecoder();
  const stream = Buffer.concat(small);
  const { result, copied } = bytesCopiedBy(() => d.push(stream));
  assert.is(result.length, 3);
  assert.is(copied, 0);
  const f = bigFrame(100_000);
  const parts = [f.subarray(0, 3), f.subarray(3, 40_000), f.subarray(40_000, 90_000), f.subarray(90_000)];
  const d2 = new FrameDecoder();
  const r2 = bytesCopiedBy(() => parts.flatMap((p) => d2.push(p)));
  assert.is(r2.result.length, 1);
  assert.is(r2.copied, f.byteLength - 4, 'the body, once');
  assert.is(d2.copiedBytes, f.byteLength - 4);
});

test('every frame before a bad length is returned; the bad length throws at once, and the decoder stays failed', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 5 }), fc.array(fc.integer({ min: 1, max: 60 }), { maxLength: 5 }), (good, cuts) => {
    const frames = Array.from({ length: good }, (_, i) => encodeFrame({ type: 'req', id: i, device: 'mem0', opcode: 0x4200 }));
    const stream = Buffer.concat([...frames, Buffer.from([0xff, 0, 0, 0]), encodeFrame({ type: 'req', id: 99, device: 'x', opcode: 1 })]);
    const d = new FrameDecoder(1024);
    const got: number[] = [];
    let failed: Error | null = null;
    let at = 0;
    for (const p of [...cuts.map((c) => Math.min(stream.byteLength, at + c)), stream.byteLength]) {
      if (failed) break;
      d.append(stream.subarray(at, Math.max(at, p)));
      at = Math.max(at, p);
      try {
        for (let b = d.next(); b !== null; b = d.next()) got.push(decodeMap(b).id as number);
      } catch (e) {
        failed = e as Error;
      }
    }
    assert.equal(got, Array.from({ length: good }, (_, i) => i));
    assert.ok(failed !== null, 'the bad length is reported');
    assert.match(failed!.message, /outside 1\.\.1024/);
    assert.throws(() => d.next(), /outside/);
  }), { numRuns: 200 });
});

test('a recording with a huge torn record: over the record cap it is an error at once, under it the read stays linear', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mbxmux-torn-'));
  try {
    const header = encodeFrame({ t: 'header', format: 'mbxmux-recording', version: 1, created: 'now', fleet: { 'cxl-type3': 1 }, workers: 1, devices: 1, node: 'v20' });
    // a record claiming 64 MiB (over the 16 MiB record cap) with 2 MiB of it present
    const huge = Buffer.alloc(4 + 2 * 1024 * 1024);
    huge.writeUInt32BE(64 * 1024 * 1024, 0);
    const bad = join(dir, 'huge.mbxrec');
    writeFileSync(bad, Buffer.concat([header, huge]));
    await readRecording(bad).then(
      () => assert.unreachable('a record over the cap must be refused'),
      (e: Error & { code?: string }) => {
        assert.is(e.code, 'EMBX_PROTOCOL');
        assert.match(e.message, /frame length 67108864 is outside 1\.\.16777216/);
      },
    );
    // a torn 12 MiB record (under the cap): read as an incomplete recording, each byte copied at most once
    const torn = Buffer.alloc(4 + 8 * 1024 * 1024);
    torn.writeUInt32BE(12 * 1024 * 1024, 0);
    const file = join(dir, 'torn.mbxrec');
    writeFileSync(file, Buffer.concat([header, torn]));
    const stop = countCopies();
    let rec;
    let copied;
    try {
      rec = await readRecording(file);
    } finally {
      copied = stop();
    }
    assert.is(rec.truncatedBytes, torn.byteLength);
    assert.is(rec.requests.length, 0);
    assert.ok(copied <= torn.byteLength + header.byteLength, `copied ${copied} bytes reading a ${torn.byteLength}-byte torn record`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
