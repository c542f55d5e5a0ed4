import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, type CommandResult, type FleetFile, type Mux, type SendRequest, type TestOnlyCompletionFaults } from '../../src/index.js';

/**
 * Soak: 64 callers in 4 sessions drive a faulty fleet for SOAK_SECONDS (default 20) — worker crashes, worker
 * exits, hangs, slow devices, busy storms, error codes, dropped MCTP fragments, timeouts and aborts — and every
 * request must settle exactly once with an outcome its faults explain.
 *
 * The soak keeps its own table, independent of the mux: every request gets an id, its issue time, the time by
 * which it must have settled (its timeout, or ANSWER_BOUND_MS for a request sent without one, plus GRACE_MS)
 * and how it settled. A caller waits for its request only until that time, so a request that never settles is
 * counted (lost) instead of hanging the file. Requests to devices that always answer carry no timeout: a
 * completion the worker drops cannot pass for an ordinary EMBX_TIMEOUT.
 *
 * The device side is counted too: most requests are Get LSA (4102h) asking for `1 + id mod 2048` bytes, so the
 * length of the answer names the request the device answered. An answer whose length names another request was
 * delivered to the wrong one; an id named by two answers was completed twice. Every other answer has the
 * length its command returns (CXL r3.1 Identify and Get Health Info: 12h bytes, Get Timestamp: 8, NVMe
 * Identify Controller: 4096). The mux's own witnesses (stats().strayCompletions, settledTwice) must stay 0.
 *
 * The last tests break the worker on purpose (faults.testOnly: dropped, duplicated and misdelivered
 * completions) and show each of these checks fire.
 */
const SECONDS = Number(process.env.SOAK_SECONDS ?? 20);
/** a request to a device that always answers, sent without a timeout, must settle within this */
const ANSWER_BOUND_MS = 10_000;
/** beyond a request's own timeout, before it counts as lost */
const GRACE_MS = 2000;

const ECHO_SPAN = 2048;
const echoLength = (id: number): number => 1 + (id % ECHO_SPAN);
/** Get LSA { le32 offset, le32 length } (CXL r3.1 8.2.9.9.2.3): the device answers exactly `length` bytes */
function echoRequest(device: string, id: number): SendRequest {
  const p = new Uint8Array(8);
  const v = new DataView(p.buffer);
  v.setUint32(0, (id % 64) * 64, true);
  v.setUint32(4, echoLength(id), true);
  return { device, opcode: 0x4102, payload: p, timeoutMs: 0 };
}

/**
 * What a request may end in, besides EMBX_ABORTED when the soak aborted it and EMBX_WORKER_LOST when its shard
 * is one whose workers the soak kills.
 */
type Expect = 'answer' | 'hang' | 'mctp' | 'kill' | 'malformed';
const ALLOWED: Record<Expect, readonly string[]> = {
  answer: ['answer'],
  hang: ['EMBX_TIMEOUT'],
  malformed: ['EMBX_PROTOCOL'],
  mctp: ['answer', 'EMBX_TIMEOUT', 'EMBX_TRANSPORT'],
  kill: [],
};

interface Planned {
  req: SendRequest;
  expect: Expect;
  /** answer length when rc is 0: 'echo' = echoLength(id) */
  length: number | 'echo';
  /** the device never answers anything but Success */
  healthy: boolean;
}

type Mix = (random: () => number, id: number) => Planned;

interface Row {
  device: string;
  shard: number;
  expect: Expect;
  aborted: boolean;
  deadline: number;
  settledAt: number;
  outcome: string;
  /** answers the device side attributes to this id (by echo length) */
  echoes: number;
}

interface SoakReport {
  sent: number;
  settled: number;
  lost: number;
  lostIds: number[];
  /** answers that belong to another request (echo length or answer shape says so) */
  misdelivered: number;
  /** ids that two answers name */
  duplicated: number;
  /** answers checked against their request by echo length */
  echoed: number;
  unexplained: Record<string, number>;
  tally: Record<string, number>;
  strayCompletions: number;
  settledTwice: number;
  restarts: number;
  kills: number;
}

function rng(seed: number): () => number {
  let x = seed | 1;
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 4294967296; };
}

const bump = (o: Record<string, number>, k: string): void => { o[k] = (o[k] ?? 0) + 1; };

interface SoakOptions {
  seconds: number;
  callers: number;
  answerBoundMs: number;
  graceMs: number;
  seed: number;
  /** devices whose requests kill their worker: EMBX_WORKER_LOST is an explained outcome on their shards only */
  killers: readonly string[];
}

async function soak(mux: Mux, mix: Mix, o: SoakOptions): Promise<SoakReport> {
  const random = rng(o.seed);
  const shardOf = new Map(mux.devices().map((d) => [d.id, d.shard]));
  const dying = new Set(o.killers.map((id) => shardOf.get(id)!));
  const rows: Row[] = [];
  const tally: Record<string, number> = {};
  let misdelivered = 0;
  let echoed = 0;
  let kills = 0;
  /** an echo answer that is not its request's own belongs to the most recent id with that residue */
  const ownerOf = (len: number): number => {
    const last = rows.length - 1;
    return last - ((((last - (len - 1)) % ECHO_SPAN) + ECHO_SPAN) % ECHO_SPAN);
  };
  const check = (id: number, plan: Planned, r: CommandResult): void => {
    const len = r.payload.byteLength;
    if (r.rc !== 0) {
      if (plan.healthy) misdelivered++; // a healthy device answers Success: this rc is someone else's answer
      return;
    }
    if (plan.length === 'echo') {
      echoed++;
      if (len === echoLength(id)) {
        rows[id]!.echoes++;
        return;
      }
      misdelivered++;
      if (len === 0 || len > ECHO_SPAN) return;
      const owner = ownerOf(len);
      if (owner >= 0) rows[owner]!.echoes++;
    } else if (len !== plan.length) {
      misdelivered++;
    }
  };
  const sessions = Array.from({ length: 4 }, (_, i) => mux.openSession({ name: `soak-${i}`, tier: 'debug-write-full', fabricManager: true }));
  const end = performance.now() + o.seconds * 1000;
  const caller = async (k: number): Promise<void> => {
    const s = sessions[k % sessions.length]!;
    while (performance.now() < end) {
      const id = rows.length;
      const plan = mix(random, id);
      if (plan.expect === 'kill') kills++;
      const req = plan.req;
      const aborted = random() < 0.01;
      if (aborted) {
        const ac = new AbortController();
        req.signal = ac.signal;
        setTimeout(() => ac.abort(), Math.floor(random() * 3));
      }
      const now = performance.now();
      const row: Row = {
        device: req.device, shard: shardOf.get(req.device)!, expect: plan.expect, aborted, settledAt: NaN, outcome: 'unsettled', echoes: 0,
        deadline: now + (req.timeoutMs !== undefined && req.timeoutMs > 0 ? req.timeoutMs : o.answerBoundMs) + o.graceMs,
      };
      rows.push(row);
      const settled = s.send(req).then(
        (r) => { row.settledAt = performance.now(); row.outcome = 'answer'; bump(tally, r.rc === 0 ? 'ok' : `rc ${r.rc}`); check(id, plan, r); },
        (e: { code?: string }) => { row.settledAt = performance.now(); row.outcome = e.code ?? 'untyped'; bump(tally, row.outcome); },
      );
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([settled, new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, row.deadline - performance.now()))))]);
      clearTimeout(timer);
    }
  };
  await Promise.all(Array.from({ length: o.callers }, (_, k) => caller(k)));
  const st = mux.stats();
  const lostIds: number[] = [];
  const unexplained: Record<string, number> = {};
  let settled = 0;
  rows.forEach((r, id) => {
    if (!(r.settledAt <= r.deadline)) {
      lostIds.push(id);
      return;
    }
    settled++;
    const explained = ALLOWED[r.expect].includes(r.outcome) || (r.aborted && r.outcome === 'EMBX_ABORTED')
      || (r.outcome === 'EMBX_WORKER_LOST' && dying.has(r.shard));
    if (!explained) bump(unexplained, `${r.device} ${r.outcome}`);
  });
  return {
    sent: rows.length, settled, lost: lostIds.length, lostIds, misdelivered, duplicated: rows.filter((r) => r.echoes > 1).length,
    echoed, unexplained, tally: { ...tally }, strayCompletions: st.strayCompletions, settledTwice: st.settledTwice,
    restarts: st.shards.reduce((n, x) => n + x.generation, 0), kills,
  };
}

function print(name: string, seconds: number, r: SoakReport): void {
  console.log(`  ${name}: ${seconds}s, sent ${r.sent}, settled ${r.settled}, lost ${r.lost}, misdelivered ${r.misdelivered}, `
    + `duplicated ${r.duplicated} (${r.echoed} answers checked by echo), stray completions ${r.strayCompletions}, settled twice ${r.settledTwice}; `
    + `worker kills sent ${r.kills}, restarts ${r.restarts}; ${JSON.stringify(r.tally)}`);
}

/**
 * Two shards. The worker killers (mem12, mem14) share shard 1, so shard 0 never dies: a worker death fails
 * every request its shard held with EMBX_WORKER_LOST, which would also cover up a completion the worker had
 * dropped earlier; on shard 0 a dropped completion stays lost.
 *   shard 0: mem0,3,5,7,9,11 (healthy), mem13 (hangs), mem15 (slow, busy), sw0 and what is below it, mctp0/1
 *   shard 1: mem1,2,4,6,8,10 (healthy), mem12, mem14 (kill their worker), mem16 (error rcs), nvme0/1 (busy),
 *            mem23 and sw1 (malformed answers: Get Health Info, and 5300h tunnel responses)
 */
const FLEET: FleetFile = {
  seed: 5,
  devices: [
    { kind: 'cxl-type3', count: 12 }, // mem0..mem11 healthy
    { kind: 'cxl-type3', count: 1, vendorCommands: 'declared', faults: { crashOn: 0xc000 } }, // mem12: kills its worker (throw)
    { kind: 'cxl-type3', count: 1, faults: { hang: [0x4200] } }, // mem13
    { kind: 'cxl-type3', count: 1, vendorCommands: 'declared', faults: { exitOn: 0xc000 } }, // mem14: kills its worker (exit)
    { kind: 'cxl-type3', count: 1, faults: { slowMs: 2, busy: 0.2 } }, // mem15
    { kind: 'cxl-type3', count: 1, faults: { error: 0.3, errorRc: 0x05 } }, // mem16
    { kind: 'cxl-switch', count: 1 }, // sw0 + SLDs/MLD below
    { kind: 'nvme', count: 2, faults: { busy: 0.1 } },
    { kind: 'mctp-pcc', count: 2, fronts: ['mem0', 'sw0'], faults: { dropFragments: 0.05 } },
    { kind: 'cxl-type3', count: 1, faults: { malformed: [0x4200] } }, // mem23: Payload Length past its mailbox
    { kind: 'cxl-switch', count: 1, faults: { malformed: [0x5300] } }, // sw1: its tunnel answers claim a byte too many
  ],
};
const KILLERS = ['mem12', 'mem14'];

const IDENTIFY_BYTES = 0x12;
const HEALTH_BYTES = 0x12;

const faultyMix: Mix = (random, id) => {
  const r = random();
  if (r < 0.002) return { req: { device: random() < 0.5 ? 'mem12' : 'mem14', opcode: 0xc000 }, expect: 'kill', length: 0, healthy: false };
  if (r < 0.05) return { req: { device: 'mem13', opcode: 0x4200, timeoutMs: 20 }, expect: 'hang', length: 0, healthy: false };
  if (r < 0.1) return { req: echoRequest('mem15', id), expect: 'answer', length: 'echo', healthy: false };
  if (r < 0.15) return { req: echoRequest('mem16', id), expect: 'answer', length: 'echo', healthy: false };
  if (r < 0.25) return { req: { device: `nvme${Math.floor(random() * 2)}`, opcode: 0x06, cdw10: 1, timeoutMs: 0 }, expect: 'answer', length: 4096, healthy: false };
  if (r < 0.3) return { req: { device: `mctp${Math.floor(random() * 2)}`, opcode: 0x0001, timeoutMs: 2000 }, expect: 'mctp', length: IDENTIFY_BYTES, healthy: false };
  if (r < 0.35) return { req: { device: 'sw0', opcode: 0x4200, tunnel: [1], timeoutMs: 0 }, expect: 'answer', length: HEALTH_BYTES, healthy: true };
  if (r < 0.36) return { req: { device: 'sw1', opcode: 0x4200, tunnel: [1], timeoutMs: 0 }, expect: 'malformed', length: 0, healthy: false };
  if (r < 0.37) return { req: { device: 'mem23', opcode: 0x4200, timeoutMs: 0 }, expect: 'malformed', length: 0, healthy: false };
  const device = `mem${Math.floor(random() * 12)}`;
  if (random() < 0.2) return { req: { device, opcode: 0x0300, timeoutMs: 0 }, expect: 'answer', length: 8, healthy: true };
  return { req: echoRequest(device, id), expect: 'answer', length: 'echo', healthy: true };
};

test(`soak ${SECONDS}s with random faults: nothing lost, nothing misdelivered, nothing duplicated`, async () => {
  const mux = await createMux({ workers: 2, fleet: FLEET, maxRestarts: 10_000 });
  let r: SoakReport;
  let generations: number[];
  try {
    assert.equal(KILLERS.map((id) => mux.devices().find((d) => d.id === id)!.shard), [1, 1], 'the killers share shard 1');
    r = await soak(mux, faultyMix, { seconds: SECONDS, callers: 64, answerBoundMs: ANSWER_BOUND_MS, graceMs: GRACE_MS, seed: 99, killers: KILLERS });
    generations = mux.stats().shards.map((x) => x.generation);
  } finally {
    await mux.close({ timeoutMs: 1000 });
  }
  print('soak', SECONDS, r);
  assert.is(r.lost, 0, `requests that never settled (ids ${r.lostIds.slice(0, 10).join(', ')})`);
  assert.is(r.misdelivered, 0, 'answers that belong to another request');
  assert.is(r.duplicated, 0, 'requests the device side answered twice');
  assert.is(r.strayCompletions, 0, 'completion records whose tag held no request');
  assert.is(r.settledTwice, 0, 'requests the mux settled twice');
  assert.equal(r.unexplained, {}, 'only the failures the faults explain');
  assert.ok(r.sent > 1000, `${r.sent} requests`);
  assert.ok(r.echoed > r.sent / 4, `${r.echoed} answers checked by their echo`);
  assert.ok(r.kills > 0 && generations[1]! > 0, 'workers really died and came back');
  assert.is(generations[0], 0, 'shard 0 never died');
  assert.ok((r.tally['EMBX_PROTOCOL'] ?? 0) > 0, 'malformed answers were injected and failed only their own requests');
});

// --------------------------------------------------------------- the checks fire on a broken worker

/** Four healthy devices whose worker breaks their completions (test-only faults); no other fault. */
async function brokenSoak(testOnly: TestOnlyCompletionFaults): Promise<SoakReport> {
  const mux = await createMux({ workers: 1, fleet: { seed: 3, devices: [{ kind: 'cxl-type3', count: 4, faults: { testOnly } }] } });
  const mix: Mix = (random, id) => ({ req: echoRequest(`mem${Math.floor(random() * 4)}`, id), expect: 'answer', length: 'echo', healthy: true });
  try {
    const r = await soak(mux, mix, { seconds: 1, callers: 16, answerBoundMs: 500, graceMs: 500, seed: 7, killers: [] });
    print(`broken worker ${JSON.stringify(testOnly)}`, 1, r);
    return r;
  } finally {
    await mux.close({ timeoutMs: 0 });
  }
}

test('the soak\'s checks fire: a dropped completion is counted lost, not hung on and not an ordinary timeout', async () => {
  const r = await brokenSoak({ dropCompletion: 0.01 });
  assert.ok(r.lost > 0, 'dropped completions are lost requests');
  assert.is(r.settled + r.lost, r.sent, 'the run ended with every request settled or counted lost');
  assert.equal(r.unexplained, {}, 'none passed for a timeout');
});

test('the soak\'s checks fire: a duplicated completion is seen (a stray record, or an answer to the wrong request)', async () => {
  const r = await brokenSoak({ duplicateCompletion: 0.02 });
  assert.ok(r.strayCompletions + r.misdelivered > 0, `stray ${r.strayCompletions}, misdelivered ${r.misdelivered}`);
});

test('the soak\'s checks fire: a completion under another request\'s tag is a wrong answer and a lost request', async () => {
  const r = await brokenSoak({ misdeliverCompletion: 0.02 });
  assert.ok(r.lost > 0, 'the request whose answer went astray');
  assert.ok(r.misdelivered + r.strayCompletions > 0, `misdelivered ${r.misdelivered}, stray ${r.strayCompletions}`);
});

test.run();
