import { nowNs } from '../doorbell/doorbell.js';
import { BackpressureError, type MbxError } from '../errors.js';
import { CqFlag, SqFlag } from '../shard/protocol.js';
import type { Deadlines } from './deadlines.js';
import { Answer } from './answer.js';
import { ByteSlab } from './byte-slab.js';
import { RecordQueue } from './record-queue.js';
import { RequestRecord, RState, type RequestSession } from './request.js';
import { abortedError, completionError, malformedAnswer, workerLostError } from './request-errors.js';
import type { ShardLink } from './shard-link.js';
import type { Tally } from './tally.js';
import type { SendRequest } from './types.js';

/** requests moved from one session's queue per round-robin turn */
const QUANTUM = 16;
/** a shard counts as shared by several sessions for this long after a second session sent to it */
const SHARED_NS = 1e9;
/**
 * A session with at most this many requests in flight on a shard is light there (one waiting for answers one
 * or a few at a time): its request is published at once rather than with the burst, and while the shard is
 * shared its answers are delivered before those of heavier sessions in the same batch. Its round trip then
 * does not include the main thread's work for a flood beside it (the flood's share of the turn comes after).
 */
const LIGHT_IN_FLIGHT = 4;

/** The windows a scheduler enforces (MuxSettings). */
export interface Windows {
  sessionWindow: number;
  sharedSessionWindow: number;
  deviceWindow: number;
  sharedDeviceWindow: number;
  defaultTimeoutMs: number;
}

/**
 * What a scheduler needs from the owner of the event-loop turn (the CompletionPoller): it decides when what was
 * written is published and when completions are looked for. The scheduler never publishes on its own.
 */
export interface TurnOwner {
  /**
   * requests were written into `s`'s SQ, unpublished; `now`: publish them at once (the first request to a shard
   * with nothing in flight, or a light session's), else with the burst
   */
  wrote(s: ShardScheduler, now: boolean): void;
  /** requests were queued while `s` had room: move them at the next flush */
  pumpSoon(s: ShardScheduler): void;
  /** publish every SQ written to, now, and watch for completions */
  flush(): void;
  /** a request is outstanding: keep the process alive until it settles */
  hold(): void;
  /** when the current event-loop turn began (ns): the clock of the shared windows */
  readonly turnStartNs: number;
  /** performance.now() as of this burst of requests (read once per burst: a clock read allocates) */
  nowMs(): number;
}

/**
 * One shard's request scheduling on the main thread, in the order a request lives through it:
 *
 *   enqueue ──► write into the SQ (a tag of the in-flight table)        if the session, its device and the
 *     │            │                                                    shard have room and nothing of the
 *     │            ▼                                                    session waits before it
 *     │         drain: the CQ entry's tag -> the request, settled; the tag is freed, which unparks and pumps
 *     └──► the session's queue for this shard ──pump (round-robin over sessions, QUANTUM each)──► write
 *              └─ a request whose device window is full is parked per device; unpark round-robin ──► write
 *
 * Timeouts, aborts and closed sessions `expire()` a request: a waiting one is dropped from its queue lazily;
 * one the worker holds is CANCELLED and a CANCEL descriptor follows it, and its tag returns only with the
 * worker's answer, so a late answer can never reach another request. A dead worker's requests fail once
 * each (`failHeld`); the supervisor then replaces the rings.
 */
export class ShardScheduler {
  /** in-flight table: tag -> request; a tag is a slot index, reused only after its completion arrives */
  private readonly slots: (RequestRecord | undefined)[];
  private readonly free: number[];
  /** requests in flight per device of this shard, by local index */
  private readonly devInFlight: Uint16Array;
  /**
   * Long-lived requests (NVMe AERs) in flight: they count here instead of in the session and device windows,
   * which they would otherwise hold for good, and at most longLivedCap of the tags may be theirs.
   */
  private longLived = 0;
  private readonly longLivedCap: number;
  /** sessions with requests waiting for this shard, served round-robin */
  private readonly rr: RequestSession[] = [];
  /** devices (global index) with parked requests -> the sessions holding them */
  private readonly parkedBy = new Map<number, Set<RequestSession>>();
  /** requests to cancel in the worker, waiting for SQ room */
  private readonly cancels = new RecordQueue<RequestRecord>();
  /** the answer a completion's callback sees (one per shard: drains of a shard never nest) */
  private readonly answer = new Answer();
  /** CQ slot words of completions held back to the end of a drain (heavy sessions' answers on a shared shard) */
  private readonly later: Int32Array;
  /** the session that sent here last, when (the turn clock), and until when the shard counts as shared */
  private lastSession: RequestSession | null = null;
  private lastSendNs = 0;
  private sharedUntilNs = 0;
  private readonly queuedBytes = new ByteSlab();
  turn!: TurnOwner;

  constructor(
    readonly link: ShardLink,
    devices: number,
    /** the device table's global index -> index within its shard */
    private readonly localOf: Uint32Array,
    private readonly w: Windows,
    private readonly tally: Tally,
    private readonly deadlines: Deadlines,
  ) {
    const window = link.geometry.window;
    this.slots = new Array<RequestRecord | undefined>(window).fill(undefined);
    this.longLivedCap = Math.max(1, Math.floor(window / 4));
    this.free = [];
    for (let i = window - 1; i >= 0; i--) this.free.push(i);
    this.devInFlight = new Uint16Array(devices);
    this.later = new Int32Array(link.geometry.slots);
  }

  get index(): number {
    return this.link.index;
  }

  get inFlight(): number {
    return this.link.geometry.window - this.free.length;
  }

  /** in flight, long-lived requests (which the device may hold for good) left out */
  get inFlightShortLived(): number {
    return this.inFlight - this.longLived;
  }

  /**
   * Takes an admitted request: into the SQ now if it may go, else into the session's queue for this shard. A
   * request refused here (noWait, queueLimit) settles at once; a submit() callback hears of it in a microtask.
   */
  enqueue(session: RequestSession, p: RequestRecord, req: SendRequest): void {
    const index = this.index;
    session.sent++;
    const q = session.queues[index]!;
    if (!session.system) {
      // (the mux's own enumeration session does not count: it is done before any caller's request)
      if (this.lastSession !== session) {
        // shared: the session that sent here before this one is still open and sent within SHARED_NS
        const prev = this.lastSession;
        const now = nowNs();
        if (prev !== null && !prev.closed && now - this.lastSendNs < SHARED_NS) this.sharedUntilNs = now + SHARED_NS;
        this.lastSession = session;
      }
      this.lastSendNs = this.turn.turnStartNs;
    }
    const ready = this.link.ready;
    const direct = q.length === 0 && ready && session.inFlight[index]! < this.windowOf()
      && this.free.length > 0 && this.deviceRoom(p, this.deviceWindowOf()) && (session.parked === null || !session.parked.has(p.di));
    if (!(direct && this.write(p))) {
      if (req.noWait) {
        p.settleError(new BackpressureError('EMBX_RING_FULL',
          `no ring room for ${p.device.id} right now (shard ${index} has ${this.inFlight} requests in flight); retry, or send without noWait to queue`,
          { device: p.device.id, shard: index }), true);
        return;
      }
      if (session.queued >= session.queueLimit) {
        p.settleError(new BackpressureError('EMBX_BACKPRESSURE',
          `session ${session.name} already has ${session.queued} requests waiting (queueLimit ${session.queueLimit}); await earlier requests or raise queueLimit`,
          { session: session.name, queued: session.queued }), true);
        return;
      }
      // Queued requests keep their own copy: the caller may reuse its buffer as soon as send() returns.
      if (p.payload !== null) p.payload = this.queuedBytes.copy(p.payload, 0, p.payload.byteLength);
      q.push(p);
      session.queued++;
      this.tally.queued++;
      if (q.length === 1) this.rr.push(session);
      // It may be waiting only behind requests for a saturated device: let the next flush pump (and park)
      // rather than wait for a completion from this shard that may never come.
      if (ready && this.free.length > 0 && session.inFlight[index]! < this.windowOf()) this.turn.pumpSoon(this);
    }
    const timeoutMs = req.timeoutMs ?? this.w.defaultTimeoutMs;
    if (timeoutMs > 0) this.deadlines.add(p, timeoutMs, this.turn.nowMs());
    if (req.signal !== undefined) this.watchAbort(p, req.signal);
    this.turn.hold();
  }

  /**
   * An aborted signal expires the request. In a method of its own: closures in enqueue() would make V8 allocate
   * their context on every call, signal or not.
   */
  private watchAbort(p: RequestRecord, signal: AbortSignal): void {
    const gen = p.gen;
    const onAbort = (): void => {
      if (p.gen === gen) this.expire(p, abortedError(p));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.abortCleanup = () => signal.removeEventListener('abort', onAbort);
  }

  /** Writes one request into the SQ (unpublished). False if the ring has no room. */
  private write(p: RequestRecord): boolean {
    const sq = this.link.sq;
    const len = p.payload === null ? 0 : p.payload.byteLength;
    const at = sq.reserve(len);
    if (at < 0) return false;
    if (len > 0) sq.payload.set(p.payload!, at);
    const tag = this.free.pop()!;
    this.slots[tag] = p;
    p.tag = tag;
    p.state = RState.IN_FLIGHT;
    sq.commit(tag, p.local, p.opcode, p.flags, p.a0, p.a1, p.a2);
    if (p.longLived) {
      this.longLived++;
    } else {
      p.session.inFlight[this.index]!++;
      this.devInFlight[p.local]!++;
    }
    this.tally.inFlight++;
    // the first request to an idle shard, and a light session's request, go out at once
    this.turn.wrote(this, this.free.length === this.link.geometry.window - 1 || (!p.longLived && p.session.inFlight[this.index]! <= LIGHT_IN_FLIGHT));
    return true;
  }

  /** Timeout, abort or closed session: reject now; a request the worker holds is also cancelled there. */
  expire(p: RequestRecord, err: MbxError): void {
    if (!p.active) return;
    this.tally.failed++;
    if (p.state === RState.QUEUED) {
      p.session.queued--;
      this.tally.queued--;
      p.fail(err);
      this.tally.checkDrained();
      return;
    }
    p.fail(err); // now CANCELLED: the slot stays taken until the worker answers
    this.cancels.push(p);
    this.pump();
    this.turn.flush();
  }

  /** Moves cancels and queued requests into the SQ while there is room, round-robin over sessions. */
  pump(): void {
    if (!this.link.ready) return;
    if (this.parkedBy.size > 0) {
      for (const di of [...this.parkedBy.keys()]) this.unpark(di);
    }
    const sq = this.link.sq;
    while (this.cancels.length > 0) {
      const p = this.cancels.peek();
      // answered (and maybe reused) before its cancel went out: nothing to cancel
      if (p === undefined || p.state !== RState.CANCELLED) {
        this.cancels.shift();
        continue;
      }
      if (sq.reserve(0) < 0) return;
      sq.commit(p.tag, p.local, p.opcode, SqFlag.CANCEL);
      this.cancels.shift();
      this.turn.wrote(this, false);
    }
    const index = this.index;
    const rr = this.rr;
    const window = this.windowOf();
    const devWindow = this.deviceWindowOf();
    let progress = true;
    while (progress && rr.length > 0 && this.free.length > 0) {
      progress = false;
      for (let i = 0; i < rr.length && this.free.length > 0;) {
        const s = rr[i]!;
        const q = s.queues[index]!;
        let moved = 0;
        while (moved < QUANTUM && this.free.length > 0 && s.inFlight[index]! < window) {
          const p = q.peekActive();
          if (p === undefined) break;
          if (!this.deviceRoom(p, devWindow) || (s.parked !== null && s.parked.has(p.di))) {
            q.shift();
            this.park(s, p);
            continue;
          }
          if (!this.write(p)) return;
          q.shift();
          s.queued--;
          this.tally.queued--;
          moved++;
          progress = true;
        }
        if (q.length === 0) rr.splice(i, 1);
        else i++;
      }
      // rotate so the next pump starts with a different session
      if (rr.length > 1) rr.push(rr.shift()!);
    }
  }

  /**
   * Windows in a shard: the full sessionWindow / deviceWindow while one session uses the shard, the smaller
   * shared ones once another session has sent there within SHARED_NS, because everything one session holds in
   * a worker's ring is work the other sessions' requests wait behind.
   */
  private windowOf(): number {
    return this.turn.turnStartNs < this.sharedUntilNs ? this.w.sharedSessionWindow : this.w.sessionWindow;
  }

  private deviceWindowOf(): number {
    return this.turn.turnStartNs < this.sharedUntilNs ? this.w.sharedDeviceWindow : this.w.deviceWindow;
  }

  /**
   * Room for `p` at its device: a place in the device window or, for a long-lived request, one of the shard's
   * long-lived slots (an AER the device may hold for good must not take a place other sessions wait for).
   */
  private deviceRoom(p: RequestRecord, devWindow: number): boolean {
    return p.longLived ? this.longLived < this.longLivedCap : this.devInFlight[p.local]! < devWindow;
  }

  private freeSlot(tag: number, p: RequestRecord): void {
    this.slots[tag] = undefined;
    this.free.push(tag);
    p.tag = -1;
    if (p.longLived) {
      this.longLived--;
    } else {
      p.session.inFlight[this.index]!--;
      this.devInFlight[p.local]!--;
    }
    this.tally.inFlight--;
    if (this.parkedBy.size > 0 && this.parkedBy.has(p.di)) this.unpark(p.di);
  }

  /** Sets aside a request whose device is saturated, keeping that device's requests in order. */
  private park(s: RequestSession, p: RequestRecord): void {
    const parked = (s.parked ??= new Map());
    let f = parked.get(p.di);
    if (f === undefined) {
      f = new RecordQueue<RequestRecord>();
      parked.set(p.di, f);
    }
    f.push(p);
    let who = this.parkedBy.get(p.di);
    if (who === undefined) {
      who = new Set();
      this.parkedBy.set(p.di, who);
    }
    who.add(s);
  }

  /**
   * Writes parked requests of device `di` while it, the shard and their sessions have room, one request per
   * session per pass (round-robin), so a session flooding a device cannot keep another session's request to
   * the same device waiting behind all of its own. The session served first moves to the back each call.
   */
  private unpark(di: number): void {
    const who = this.parkedBy.get(di);
    if (who === undefined || !this.link.ready) return;
    const index = this.index;
    const window = this.windowOf();
    const devWindow = this.deviceWindowOf();
    const local = this.localOf[di]!;
    let progress = true;
    while (progress && who.size > 0 && this.free.length > 0 && (this.devInFlight[local]! < devWindow || this.longLived < this.longLivedCap)) {
      progress = false;
      for (const s of who) {
        const f = s.parked!.get(di)!;
        const head = f.peekActive();
        if (head !== undefined && this.deviceRoom(head, devWindow) && this.free.length > 0 && s.inFlight[index]! < window) {
          if (!this.write(head)) return;
          f.shift();
          s.queued--;
          this.tally.queued--;
          progress = true;
        }
        if (f.length === 0) {
          s.parked!.delete(di);
          who.delete(s);
        }
      }
    }
    const first = who.values().next();
    if (!first.done && who.size > 1) {
      who.delete(first.value);
      who.add(first.value);
    }
    if (who.size === 0) this.parkedBy.delete(di);
  }

  /**
   * Takes every published completion and settles its requests; returns how many it took. A callback runs with
   * the answer's bytes still in the ring (the Answer is valid until it returns); the ring is released after.
   * While the shard is shared, answers to heavy sessions (more than LIGHT_IN_FLIGHT in flight here) wait until
   * the light sessions' answers of the batch are delivered; each session's answers keep their order.
   */
  drain(): number {
    const cq = this.link.cq;
    const n = cq.available();
    if (n === 0) return 0;
    const shared = this.turn.turnStartNs < this.sharedUntilNs;
    const index = this.index;
    let held = 0;
    for (let i = 0; i < n; i++) {
      const w = cq.slotWord(i);
      if (shared) {
        const p = this.slots[cq.tag(w)];
        // (a session's count here only falls during this pass for light sessions: heavy ones stay heavy)
        if (p !== undefined && p.session.inFlight[index]! > LIGHT_IN_FLIGHT) {
          this.later[held++] = w;
          continue;
        }
      }
      this.settleFrom(cq, w);
    }
    for (let k = 0; k < held; k++) this.settleFrom(cq, this.later[k]!);
    cq.release(n);
    return n;
  }

  /** Settles the request a CQ entry answers (or counts a stray entry). */
  private settleFrom(cq: ShardLink['cq'], w: number): void {
    const tag = cq.tag(w);
    const p = this.slots[tag];
    const tally = this.tally;
    if (p === undefined) {
      // nothing holds this tag: a second completion record for a request already answered
      tally.strayCompletions++;
      return;
    }
    this.freeSlot(tag, p);
    const flags = cq.flags(w);
    if (p.state === RState.CANCELLED) {
      p.retire();
      return;
    }
    if ((flags & (CqFlag.CANCELLED | CqFlag.FAILED)) !== 0) {
      tally.failed++;
      p.settleError(completionError(p, flags, cq.arg1(w), cq.payloadOf(w)));
      return;
    }
    const answer = this.answer;
    try {
      p.fill(answer, cq.arg0(w), flags, cq.arg1(w), cq.arg2(w), cq.payload, cq.payloadIndex(w), cq.payloadLength(w));
    } catch (e) {
      // A device answer that cannot be read fails this request only (never the drain, the batch or the
      // process: this runs on the event loop with no caller's frame to catch it).
      tally.failed++;
      p.settleError(malformedAnswer(p, e));
      return;
    }
    tally.completed++;
    p.complete(answer);
  }

  /**
   * The worker died: every request it held fails exactly once with EMBX_WORKER_LOST (a cancelled one was
   * already rejected), and its tags return. Call after draining what it published before it died. Returns how
   * many were lost.
   */
  failHeld(reason: string): number {
    let lost = 0;
    for (let tag = 0; tag < this.slots.length; tag++) {
      const p = this.slots[tag];
      if (p === undefined) continue;
      this.freeSlot(tag, p);
      if (p.state === RState.IN_FLIGHT) {
        lost++;
        this.tally.failed++;
        p.settleError(workerLostError(p, this.index, reason));
      } else {
        p.retire();
      }
    }
    this.cancels.clear();
    return lost;
  }

  /** Rejects every request waiting for this shard (queued or parked): the shard is dead, or the mux closes. */
  failWaiting(err: MbxError): void {
    const index = this.index;
    for (const s of this.rr) {
      const q = s.queues[index]!;
      for (const p of q.active()) {
        s.queued--;
        this.tally.queued--;
        this.tally.failed++;
        p.fail(err);
      }
      q.clear();
    }
    this.rr.length = 0;
    for (const [di, who] of [...this.parkedBy]) {
      for (const s of who) {
        const f = s.parked!.get(di)!;
        for (const p of f.active()) {
          s.queued--;
          this.tally.queued--;
          this.tally.failed++;
          p.fail(err);
        }
        s.parked!.delete(di);
      }
      this.parkedBy.delete(di);
    }
  }

  /** Rejects every request still in flight (close): each is CANCELLED until the worker answers or stops. */
  failInFlight(err: MbxError): void {
    for (let tag = 0; tag < this.slots.length; tag++) {
      const p = this.slots[tag];
      if (p !== undefined && p.active) {
        this.tally.failed++;
        p.fail(err);
      }
    }
  }

  /**
   * A closed session's requests on this shard: waiting ones first (expire() leaves them in their FIFOs, dropped
   * lazily), so that the pumps the cancels below run cannot write any of them into the ring; then in-flight
   * ones, each cancelled in the worker as a timeout is.
   */
  dropSession(s: RequestSession, err: MbxError): void {
    for (const p of s.queues[this.index]!.active()) this.expire(p, err);
    if (s.parked !== null) {
      for (const [di, f] of s.parked) if (this.parkedBy.has(di)) for (const p of f.active()) this.expire(p, err);
    }
    for (let tag = 0; tag < this.slots.length; tag++) {
      const p = this.slots[tag];
      if (p !== undefined && p.session === s) this.expire(p, err);
    }
  }
}
