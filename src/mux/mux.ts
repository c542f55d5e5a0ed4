import { EventEmitter } from 'node:events';
import { IMPLEMENTED_KINDS } from '../devices/build.js';
import { CompletionBell } from '../doorbell/async-waiter.js';
import { BadRequestError, CancelledError, ClosedError, FleetError, type MbxError, PermissionError, WorkerLostError } from '../errors.js';
import { buildFleet, loadFleetFile } from '../fleet/expand.js';
import type { DeviceDescriptor, Fleet, FleetInput } from '../fleet/types.js';
import { decodeTunnelRequest } from '../devices/cxl/tunnel.js';
import { Policy } from '../policy/engine.js';
import { type AuditRecord, describeEffects } from '../policy/audit.js';
import { tierName } from '../policy/tiers.js';
import { MUX_CTL_BYTES, MuxCtl, ShardCtl } from '../shard/protocol.js';
import { intOption, tierOption, timeoutOption } from '../validate.js';
import { Admission } from './admission.js';
import { Deadlines } from './deadlines.js';
import { Channels, newTraceId } from './diagnostics.js';
import { DeviceTable } from './device-table.js';
import { enumerate, type EnumerationReport } from './enumerate.js';
import { resolveMuxOptions } from './options.js';
import { CompletionPoller } from './poller.js';
import { callLater, type Completion, RecordPool, type RequestRecord } from './request.js';
import { timeoutError } from './request-errors.js';
import { ShardScheduler } from './scheduler.js';
import { Session, type SessionHost } from './session.js';
import { payloadAreaFor, ShardLink, ThreadLink } from './shard-link.js';
import { ShardSupervisor } from './supervisor.js';
import { Tally } from './tally.js';
import type { CommandResult, DeviceInfo, MuxOptions, SendRequest, SessionOptions } from './types.js';
// the module binding, not the global: globalThis.performance is a lazy getter Node runs on every access
import { performance } from 'node:perf_hooks';

export interface MuxStats {
  shards: { index: number; thread: number; status: string; generation: number; inFlight: number; requests: number; cqWaits: number }[];
  /** worker threads: the shards each serves, times it slept, wake-ups the main thread sent it */
  threads: { index: number; shards: number[]; generation: number; sleeps: number; wakeups: number }[];
  inFlight: number;
  queued: number;
  completed: number;
  failed: number;
  /** times a worker woke the main thread from Atomics.waitAsync (the SEQ word) */
  mainWakeups: number;
  /** futex wake-ups the main thread sent to sleeping workers */
  workerWakeups: number;
  /** both kinds of wake-up (Atomics.notify) per 1,000 requests settled: 0 while both sides keep looking */
  notifiesPer1k: number;
  /** bounded main-thread waits for an awake worker's answer (mainSpinUs), and how many of them got one */
  quickPolls: number;
  quickHits: number;
  /**
   * Exactly-once witnesses, 0 unless something is broken: completions whose ring tag held no request (a
   * duplicated or stray completion record), and requests settled a second time (the promise ignores it).
   */
  strayCompletions: number;
  settledTwice: number;
}

/**
 * The multiplexer: the public face of the parts that do the work (the way undici's Dispatcher fronts its pools
 * and piscina's Piscina its ThreadPool). A request's whole life is in two files: admission.ts (checked,
 * permission-checked, encoded into a record) and scheduler.ts (its shard's windows, queues and ring, its
 * completion, timeout or failure). poller.ts alone decides when rings are published and drained on the main
 * thread's event loop; supervisor.ts runs the shard workers and restarts them.
 */
export class Mux extends EventEmitter implements SessionHost {
  readonly fleet: Fleet;
  readonly gates: { fabricDestructive: boolean };
  /** the permission policy: effects tables per device, audit log, taint */
  readonly policy: Policy;
  /** what enumeration found (set by start()) */
  enumeration: EnumerationReport | null = null;
  private readonly fleetInput: FleetInput | undefined;
  private readonly table: DeviceTable;
  private readonly links: ShardLink[];
  private readonly threads: ThreadLink[];
  private readonly scheds: ShardScheduler[];
  private readonly muxBuf = new SharedArrayBuffer(MUX_CTL_BYTES);
  private readonly bell = new CompletionBell(new Int32Array(this.muxBuf), MuxCtl.SEQ, MuxCtl.SLEEPING);
  private readonly deadlines: Deadlines;
  private readonly tally = new Tally();
  private readonly pool = new RecordPool(this.tally);
  private readonly admission: Admission;
  private readonly poller: CompletionPoller;
  private readonly supervisor: ShardSupervisor;
  private readonly sessions = new Map<number, Session>();
  private nextSessionId = 1;
  private readonly startTimeoutMs: number;
  private closePromise: Promise<void> | null = null;
  private system: Session | null = null;

  /** Use createMux(): construction starts workers, which must be awaited. */
  constructor(opts: MuxOptions = {}) {
    super();
    const o = resolveMuxOptions(opts);
    this.fleetInput = typeof opts.fleet === 'string' ? loadFleetFile(opts.fleet) : opts.fleet;
    this.fleet = buildFleet(this.fleetInput, o.shards, opts.slice);
    this.table = new DeviceTable(this.fleet);
    for (const d of this.fleet.devices) {
      if (!IMPLEMENTED_KINDS.has(d.kind)) throw new FleetError(`device kind ${d.kind} is not emulated by this build`);
    }
    this.startTimeoutMs = o.startTimeoutMs;
    this.gates = { fabricDestructive: opts.gates?.fabricDestructive === true };
    this.policy = new Policy(this.fleet, {
      fabricDestructive: this.gates.fabricDestructive, decodeTunnel: decodeTunnelRequest, vendorRules: o.vendorRules, auditLimit: o.auditLimit,
      noTimeoutLevel: o.noTimeoutLevel,
      ...(opts.audit?.file !== undefined ? { auditFile: opts.audit.file } : {}),
    });
    let maxMessage = 0;
    for (const d of this.fleet.devices) maxMessage = Math.max(maxMessage, d.mailboxBytes);
    const geometry = { slots: o.ringSlots, window: o.shardWindow, payloadBytes: payloadAreaFor(maxMessage + 64) };
    const muxWords = new Int32Array(this.muxBuf);
    this.links = this.fleet.arenaBytes.map((bytes, i) => new ShardLink(i, new SharedArrayBuffer(Math.max(64, bytes)), geometry));
    // shard i is served by thread i mod threads
    this.threads = Array.from({ length: o.threads }, (_, t) => new ThreadLink(t, this.links.filter((l) => l.index % o.threads === t),
      { words: muxWords, index: MuxCtl.WAKES }));
    this.deadlines = new Deadlines((p) => this.scheds[p.shard]!.expire(p, timeoutError(p)));
    this.scheds = this.links.map((link, i) => new ShardScheduler(link, this.fleet.perShard[i]!.length, this.table.local, o, this.tally, this.deadlines));
    this.poller = new CompletionPoller(this.scheds, this.bell, o, this.tally, () => this.deadlines.prune());
    for (const s of this.scheds) s.turn = this.poller;
    this.admission = new Admission(this.fleet, this.table, this.policy, this.links, this.tally, this.pool, opts.checkPermissions !== false, o.defaultTimeoutMs);
    this.supervisor = new ShardSupervisor(this.threads, this.scheds, this.poller, this.tally, this.fleetInput, this.fleet.slice, this.muxBuf, o, {
      lost: (info) => this.emit('worker-lost', info),
      restarted: (info) => this.emit('worker-restarted', info),
    });
  }

  /** Starts every shard and resolves when all serve their rings (within startTimeoutMs unless given). */
  async start(timeoutMs = this.startTimeoutMs, signal?: AbortSignal): Promise<void> {
    timeoutMs = timeoutOption(timeoutMs, 'start timeoutMs', this.startTimeoutMs, 1);
    const ready = this.supervisor.startAll();
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new WorkerLostError(`workers did not start within ${timeoutMs} ms`)), timeoutMs);
      signal?.addEventListener('abort', () => reject(new CancelledError('EMBX_ABORTED', 'createMux was aborted')), { once: true });
    });
    try {
      await Promise.race([Promise.all(ready), limit]);
      this.system = new Session(0, this, 'fabric-destructive', 0, true, 1 << 30, 'mbxmux-enumeration', this.links.length, true);
      this.enumeration = await enumerate(this.fleet, this.policy, this.system);
    } catch (e) {
      await this.close({ timeoutMs: 0 });
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  // ------------------------------------------------------------------ public API

  /** The fleet as it was given (counts or a fleet file object; a path is read at creation), e.g. for recordings. */
  get fleetDescription(): FleetInput | undefined {
    return this.fleetInput;
  }

  /** Every device of the fleet: id, kind, shard, host. */
  devices(): DeviceInfo[] {
    return this.fleet.devices.map((d) => this.deviceInfo(d));
  }

  private deviceInfo(d: DeviceDescriptor): DeviceInfo {
    const all = this.fleet.devices;
    const info: DeviceInfo = {
      id: d.id, kind: d.kind, fleetIndex: d.fleetIndex, shard: d.shard, host: d.host, serial: d.serial.toString(16).padStart(16, '0'),
      mailboxBytes: d.mailboxBytes,
    };
    if (d.tunnelOnly) info.reachableVia = { device: all[d.tunnelOnly.via]!.id, port: d.tunnelOnly.port };
    if (d.switchInfo) {
      info.ports = d.switchInfo.ports;
      info.downstream = d.switchInfo.downstream.map((p) => ({ port: p.port, device: all[p.target]!.id }));
    }
    if (d.mctp) info.fronts = all[d.mctp.fronts]!.id;
    if (d.nvme) info.namespaces = d.nvme.namespaces;
    return info;
  }

  /** True once any session used a debug-write or higher command (as fwctl taints the kernel). */
  get tainted(): boolean {
    return this.policy.tainted;
  }

  /** Audit records kept in memory (write-class commands and refusals), oldest first. */
  auditLog(): AuditRecord[] {
    return this.policy.audit.list();
  }

  /**
   * What a device reported in its effects log, and the tier each declared command needs here:
   * `[{ opcode, effects, effectNames, tier, reason }]`.
   */
  effects(device: string): { opcode: number; effects: number; effectNames: string[]; tier: string; reason: string }[] {
    const di = this.table.find(device);
    if (di < 0) throw new BadRequestError(`unknown device ${JSON.stringify(device)}: list devices with mux.devices()`, { device }, 'EMBX_UNKNOWN_DEVICE');
    const t = this.policy.tableFor(di);
    if (t === undefined) return [];
    const out = [];
    for (let op = 0; op < t.declared.length; op++) {
      if (t.declared[op] !== 1) continue;
      out.push({ opcode: op, effects: t.effects[op]!, effectNames: describeEffects(t.protocol, t.effects[op]!), tier: tierName(t.level[op]!), reason: t.reason(op) });
    }
    return out;
  }

  openSession(opts: SessionOptions = {}): Session {
    if (this.tally.closing) throw new ClosedError();
    const tier = tierOption(opts.tier, 'debug-read');
    const host = intOption(opts.host, 'host', 0, 65535, 0);
    const queueLimit = intOption(opts.queueLimit, 'queueLimit', 1, 1 << 30, 1 << 20);
    const id = this.nextSessionId++;
    const s = new Session(id, this, tier, host, opts.fabricManager === true, queueLimit, opts.name ?? `session-${id}`, this.links.length);
    this.sessions.set(id, s);
    return s;
  }

  /**
   * A closed session's requests are not left behind: queued and parked ones are rejected with EMBX_CLOSED,
   * and in-flight ones too, each cancelled in the worker as a timeout is (its slot returns when the worker
   * answers the cancel), so nothing it sent can keep a device or a window place after it is gone.
   */
  closeSession(s: Session): void {
    this.sessions.delete(s.id);
    const err = new ClosedError('the session was closed before this request completed', { session: s.name });
    for (const sched of this.scheds) sched.dropSession(s, err);
  }

  stats(): MuxStats {
    const t = this.tally;
    const mainWakeups = this.bell.seq();
    const workerWakeups = this.threads.reduce((n, th) => n + th.notifies, 0) + this.links.reduce((n, link) => n + link.cq.spaceBell.notifies, 0);
    return {
      shards: this.links.map((link, i) => ({
        index: link.index, thread: link.thread.index, status: link.status, generation: link.generation, inFlight: this.scheds[i]!.inFlight,
        requests: link.ctl[ShardCtl.STAT_REQUESTS] ?? 0, cqWaits: link.ctl[ShardCtl.STAT_CQ_WAITS] ?? 0,
      })),
      threads: this.threads.map((t) => ({
        index: t.index, shards: t.shards.map((l) => l.index), generation: t.generation, sleeps: t.sleeps, wakeups: t.notifies,
      })),
      inFlight: t.inFlight,
      queued: t.queued,
      completed: t.completed,
      failed: t.failed,
      mainWakeups,
      workerWakeups,
      notifiesPer1k: t.completed + t.failed === 0 ? 0 : ((mainWakeups + workerWakeups) * 1000) / (t.completed + t.failed),
      quickPolls: this.poller.quickPolls,
      quickHits: this.poller.quickHits,
      strayCompletions: t.strayCompletions,
      settledTwice: t.settledTwice,
    };
  }

  // ------------------------------------------------------------------ request path

  /** session.send(): submit() with a promise that resolves with the answer's own copy. */
  dispatch(session: Session, req: SendRequest): Promise<CommandResult> {
    const p = this.admit(session, req);
    if (p === null) return Promise.reject(this.refusal);
    // One shared executor instead of a closure per request (less garbage at a million requests a second).
    const promise = new Promise<CommandResult>(captureResolvers);
    p.resolve = captured.resolve;
    p.reject = captured.reject;
    this.begin(session, p, req);
    return promise;
  }

  /** session.submit(): no promise, no result object; the callback reads a reused Answer. */
  submit(session: Session, req: SendRequest, onDone: Completion): void {
    if (typeof onDone !== 'function') throw new BadRequestError('submit() takes a callback: submit(request, (err, answer) => ...)');
    const p = this.admit(session, req);
    if (p === null) {
      callLater(onDone, this.refusal as MbxError);
      return;
    }
    p.onDone = onDone;
    this.begin(session, p, req);
  }

  /** why admit() last returned null */
  private refusal: unknown = null;

  private admit(session: Session, req: SendRequest): RequestRecord | null {
    try {
      return this.admission.admit(session, req);
    } catch (e) {
      if (e instanceof PermissionError && Channels.refused.hasSubscribers) Channels.refused.publish({ session: session.name, device: req.device, error: e });
      this.refusal = e;
      return null;
    }
  }

  private begin(session: Session, p: RequestRecord, req: SendRequest): void {
    if (Channels.requestStart.hasSubscribers || Channels.requestEnd.hasSubscribers) {
      p.traceId = newTraceId();
      Channels.requestStart.publish({
        id: p.traceId, mux: this, session: session.name, tier: session.tier, host: session.host, fabricManager: session.fabricManager,
        device: p.device.id, request: req, time: performance.now(),
      });
    }
    this.scheds[p.shard]!.enqueue(session, p, req);
  }

  /** Resolves when nothing is queued or in flight. */
  whenDrained(opts: { signal?: AbortSignal } = {}): Promise<void> {
    return this.tally.whenDrained(opts.signal);
  }

  // ------------------------------------------------------------------ shutdown

  /**
   * Stops accepting requests, lets in-flight and queued ones finish for up to `timeoutMs` (default 10 s),
   * rejects what is left with EMBX_CLOSED, stops the workers and releases every handle.
   */
  close(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    if (this.closePromise !== null) return this.closePromise;
    let timeoutMs: number;
    try {
      timeoutMs = timeoutOption(opts.timeoutMs, 'close() timeoutMs', 10_000);
    } catch (e) {
      return Promise.reject(e);
    }
    this.tally.closing = true;
    this.closePromise = this.doClose(timeoutMs, opts.signal);
    return this.closePromise;
  }

  /** Drains for up to `timeoutMs`, or until `signal` aborts (then whatever is left is rejected at once). */
  private async doClose(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const tally = this.tally;
    if (!tally.idle && !signal?.aborted) {
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      await Promise.race([
        tally.whenDrained(),
        new Promise<void>((r) => {
          timer = setTimeout(r, timeoutMs);
          onAbort = () => r();
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
      clearTimeout(timer);
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    }
    const err = new ClosedError('the mux closed before this request completed');
    for (const sched of this.scheds) {
      sched.failWaiting(err);
      sched.failInFlight(err);
    }
    await this.supervisor.stopAll();
    tally.closed = true;
    this.deadlines.clear();
    this.poller.stop();
    await this.supervisor.destroy();
    await this.policy.audit.close();
    tally.inFlight = 0;
    tally.checkDrained();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

const captured: { resolve: (v: CommandResult) => void; reject: (e: unknown) => void } = { resolve: () => {}, reject: () => {} };
function captureResolvers(resolve: (v: CommandResult) => void, reject: (e: unknown) => void): void {
  captured.resolve = resolve;
  captured.reject = reject;
}

/** Creates a mux and waits until every shard worker serves its rings. */
export async function createMux(opts: MuxOptions = {}): Promise<Mux> {
  const mux = new Mux(opts);
  await mux.start(undefined, opts.signal);
  return mux;
}
