/**
 * The far side of the cross-thread micro-benchmarks (started as a plain Worker by bench/micro.ts):
 * - mode 'ring': consume an SPSC ring until a STOP descriptor arrives, then post { count, sum }.
 * - mode 'doorbell': echo every doorbell value back through a second doorbell, sleeping in Atomics.wait
 *   between requests (spinNs 0) or spinning (spinNs large), until the STOP word is set; the SLEEPS word
 *   counts the times it went to sleep.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Doorbell } from '../src/doorbell/doorbell.js';
import { RingConsumer } from '../src/ring/spsc-ring.js';

export const STOP_OPCODE = 0xffff;
/** Int32 word indexes of the doorbell buffer, one 128-byte line each */
export const Bell = { REQ: 0, REQ_SLEEPING: 32, REP: 64, REP_SLEEPING: 96, STOP: 128, SLEEPS: 160, WORDS: 192 } as const;

interface RingJob { mode: 'ring'; sab: SharedArrayBuffer }
interface BellJob { mode: 'doorbell'; sab: SharedArrayBuffer; spinNs: number }

function serveRing(job: RingJob): void {
  const c = new RingConsumer(job.sab);
  parentPort!.postMessage('ready');
  let count = 0;
  let sum = 0;
  for (;;) {
    const n = c.available();
    if (n === 0) continue; // spin: the producer never stops until it sends STOP
    const take = n > 256 ? 256 : n;
    let stop = false;
    for (let i = 0; i < take; i++) {
      const w = c.slotWord(i);
      if (c.opcode(w) === STOP_OPCODE) {
        stop = true;
        break;
      }
      sum = (sum + c.tag(w) + c.payloadLength(w)) | 0;
      count++;
    }
    c.release(take);
    if (stop) break;
  }
  parentPort!.postMessage({ count, sum });
}

function serveDoorbell(job: BellJob): void {
  const w = new Int32Array(job.sab);
  const req = new Doorbell(w, Bell.REQ, Bell.REQ_SLEEPING);
  const rep = new Doorbell(w, Bell.REP, Bell.REP_SLEEPING);
  const stop = (): boolean => Atomics.load(w, Bell.STOP) !== 0;
  let seen = Atomics.load(w, Bell.REQ);
  parentPort!.postMessage('ready'); // the main thread rings only after this: `seen` is taken
  while (!stop()) {
    const v = req.waitSync(seen, job.spinNs, 1000, stop);
    if (v === seen) continue;
    seen = v;
    Atomics.store(w, Bell.SLEEPS, req.sleeps); // before the answer: main reads it after its last round trip
    Atomics.store(w, Bell.REP, v);
    rep.ring();
  }
  parentPort!.postMessage('stopped');
}

const job = workerData as RingJob | BellJob | undefined;
if (job?.mode === 'ring') serveRing(job);
else if (job?.mode === 'doorbell') serveDoorbell(job);
