import { EventEmitter } from 'node:events';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { IMPLEMENTED_KINDS } from '../devices/build.js';
import { CompletionBell } from '../doorbell/async-waiter.js';
import { nowNs } from '../doorbell/doorbell.js';
import {
  BackpressureError, BadRequestError, CancelledError, ClosedError, FleetError, MbxError, PermissionError,
  ProtocolError, TransportError, WorkerLostError,
} from '../errors.js';
import { buildFleet, loadFleetFile } from '../fleet/expand.js';
import type { DeviceDescriptor, Fleet, FleetInput } from '../fleet/types.js';
import { decodeTunnelRequest } from '../devices/cxl/tunnel.js';
import { Policy } from '../policy/engine.js';
import { type AuditRecord, describeEffects } from '../policy/audit.js';
import { parseTier, tierName } from '../policy/tiers.js';
import { intOption, timeoutOption } from '../validate.js';
import { enumerate, type EnumerationReport } from './enumerate.js';
import { Deadlines } from './deadlines.js';
import { Channels, newTraceId } from './diagnostics.js';
import { DeviceTable, Wire } from './device-table.js';
import { decodeCxl, encodeRequest } from './encode.js';
import { Pending, PState } from './pending.js';
import { CqFlag, MUX_CTL_BYTES, MuxCtl, SqFlag, WorkerFailure } from './protocol.js';
import { ByteSlab } from './byte-slab.js';
import { Fifo } from './fifo.js';
import { MAX_TURN_NS, resolveMuxOptions } from './options.js';
import { Session, type SessionHost } from './session.js';
import { payloadAreaFor, ShardLink } from './shard-link.js';
import type { ShardReport, ShardTask } from './shard-server.js';
import type { CommandResult, DeviceInfo, MuxOptions, SendRequest, SessionOptions } from './types.js';
// the module binding, not the global: globalThis.performance is a lazy getter Node runs on every access
import { performance } from 'node:perf_hooks';

const WORKER_FILE = new URL('../../workers/shard.js', import.meta.url);
/** requests moved from one session's queue per round-robin turn */
const QUANTUM = 16;
/** quick polls only follow a publish to a shard with at most this many requests in flight */
const QUICK_MAX_IN_FLIGHT = 4;
/** a shard counts as shared by several sessions for this long after a second session sent to it */
const SHARED_NS = 1e9;
const decoder = new TextDecoder();


export interface MuxStats {
  shards: { index: number; status: string; generation: number; inFlight: number; requests: number; sleeps: number; cqWaits: number }[];
  inFlight: number;
  queued: number;
  completed: number;
  failed: number;
  /** times a worker woke the main thread from Atomics.waitAsync (the SEQ word) */
  mainWakeups: number;
  /** futex wake-ups the main thread sent to sleeping workers */
  workerWakeups: number;
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
 * The multiplexer: owns the fleet, the shard workers (piscina), the rings, and the sessions. All of its
 * work on the main thread is non-blocking: requests are written to the submission rings and published once
 * per microtask; completions are drained on every event-loop turn while requests are in flight, and one
 * Atomics.waitAsync is armed when nothing has arrived for `pollUs`.
 */
export class Mux extends EventEmitter implements SessionHost {
  readonly fleet: Fleet;
  private readonly shards: ShardLink[];
  private readonly pool: Piscina;
  private readonly muxBuf = new SharedArrayBuffer(MUX_CTL_BYTES);
  private readonly bell = new CompletionBell(new Int32Array(this.muxBuf), MuxCtl.SEQ, MuxCtl.SLEEPING);
  private readonly deadlines: Deadlines;
  private readonly sessions = new Map<number, Session>();
  private readonly table: DeviceTable;
  private readonly queuedBytes = new ByteSlab();
  private nextSessionId = 1;
  private readonly sessionWindow: number;
  private readonly sharedSessionWindow: number;
  private readonly sharedDeviceWindow: number;
  private readonly deviceWindow: number;
  /** requests in flight per device (global index) */
  private readonly devInFlight: Uint16Array;
  /** devices with parked requests -> the sessions holding them */
  private readonly parkedBy = new Map<number, Set<Session>>();
  private readonly spinNs: number;
  private readonly maxSpinners: number;
  private readonly napNs: number;
  private readonly pollNs: number;
  private readonly mainSpinNs: number;
  /** time spent in quickPoll() since the event-loop turn began (reset by pollTask) */
  private turnSpinNs = 0;
  /** when the current event-loop turn's pollTask began: quick polls stop extending a turn past MAX_TURN_NS */
  private turnStartNs = 0;
  private quickScheduled = false;
  private quickPolls = 0;
  private quickHits = 0;
  private readonly defaultTimeoutMs: number;
  private readonly maxRestarts: number;
  private readonly restartWindowMs: number;
  private readonly startTimeoutMs: number;
  private readonly fleetInput: FleetInput | undefined;
  private inFlightTotal = 0;
  private queuedTotal = 0;
  private completed = 0;
  private failed = 0;
  private strayCompletions = 0;
  private settledTwice = 0;
  private flushScheduled = false;
  private pollScheduled = false;
  private waiter: Promise<unknown> | null = null;
  private lastActivityNs = 0;
  /** a ref'd timer keeps the process alive while requests are outstanding (Atomics.waitAsync does not) */
  private readonly keepAlive: NodeJS.Timeout;
  private kept = false;
  private closing = false;
  private closed = false;
  private closePromise: Promise<void> | null = null;
  private drainedWaiters: (() => void)[] = [];
  readonly gates: { fabricDestructive: boolean };
  /** the permission policy: effects tables per device, audit log, taint */
  readonly policy: Policy;
  private readonly checkPermissions: boolean;
  private system: Session | null = null;
  /** what enumeration found (set by start()) */
  enumeration: EnumerationReport | null = null;

  /** Use createMux(): construction starts workers, which must be awaited. */
  constructor(opts: MuxOptions = {}) {
    super();
    const o = resolveMuxOptions(opts);
    this.fleetInput = typeof opts.fleet === 'string' ? loadFleetFile(opts.fleet) : opts.fleet;
    this.fleet = buildFleet(this.fleetInput, o.workers, opts.slice);
    this.table = new DeviceTable(this.fleet);
    for (const d of this.fleet.devices) {
      if (!IMPLEMENTED_KINDS.has(d.kind)) throw new FleetError(`device kind ${d.kind} is not emulated by this build`);
    }
    this.sessionWindow = o.sessionWindow;
    this.sharedSessionWindow = o.sharedSessionWindow;
    this.deviceWindow = o.deviceWindow;
    this.sharedDeviceWindow = o.sharedDeviceWindow;
    this.devInFlight = new Uint16Array(this.fleet.devices.length);
    this.spinNs = o.spinNs;
    this.pollNs = o.pollNs;
    this.mainSpinNs = o.mainSpinNs;
    this.napNs = o.napNs;
    this.maxSpinners = o.maxSpinners;
    this.defaultTimeoutMs = o.defaultTimeoutMs;
    this.maxRestarts = o.maxRestarts;
    this.restartWindowMs = o.restartWindowMs;
    this.startTimeoutMs = o.startTimeoutMs;
    this.gates = { fabricDestructive: opts.gates?.fabricDestructive === true };
    this.checkPermissions = opts.checkPermissions !== false;
    this.policy = new Policy(this.fleet, {
      fabricDestructive: this.gates.fabricDestructive, decodeTunnel: decodeTunnelRequest, vendorRules: o.vendorRules, auditLimit: o.auditLimit,
      noTimeoutLevel: o.noTimeoutLevel,
      ...(opts.audit?.file !== undefined ? { auditFile: opts.audit.file } : {}),
    });
    let maxMessage = 0;
    for (const d of this.fleet.devices) maxMessage = Math.max(maxMessage, d.mailboxBytes);
    const geometry = { slots: o.ringSlots, window: o.shardWindow, payloadBytes: payloadAreaFor(maxMessage + 64) };
    const muxWords = new Int32Array(this.muxBuf);
    this.shards = this.fleet.arenaBytes.map((bytes, i) => new ShardLink(i, new SharedArrayBuffer(Math.max(64, bytes)), geometry, { words: muxWords, index: MuxCtl.WAKES }));
    this.deadlines = new Deadlines((p) => this.expire(p, new CancelledError('EMBX_TIMEOUT',
      `${p.device.id} did not answer opcode 0x${hex4(p.opcode)} within the timeout; raise timeoutMs or check the device's faults`,
      { device: p.device.id, opcode: p.opcode })));
    this.pool = new Piscina({
      filename: WORKER_FILE.href,
      minThreads: o.workers,
      maxThreads: o.workers,
      concurrentTasksPerWorker: 1,
      idleTimeout: Infinity,
      maxQueue: Infinity,
      ...(o.resourceLimits ? { resourceLimits: o.resourceLimits } : {}),
    });
    this.keepAlive = setInterval(() => {}, 1 << 30);
    this.keepAlive.unref();
  }

  /** Starts every shard and resolves when all serve their rings (within startTimeoutMs unless given). */
  async start(timeoutMs = this.startTimeoutMs, signal?: AbortSignal): Promise<void> {
    timeoutMs = timeoutOption(timeoutMs, 'start timeoutMs', this.startTimeoutMs, 1);
    const ready = this.shards.map((sh) => this.launch(sh));
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new WorkerLostError(`workers did not start within ${timeoutMs} ms`)), timeoutMs);
      signal?.addEventListener('abort', () => reject(new CancelledError('EMBX_ABORTED', 'createMux was aborted')), { once: true });
    });
    try {
      await Promise.race([Promise.all(ready), limit]);
      this.system = new Session(0, this, 'fabric-destructive', 0, true, 1 << 30, 'mbxmux-enumeration', this.shards.length, true);
      this.enumeration = await enumerate(this.fleet, this.policy, this.system);
    } catch (e) {
      await this.close({ timeoutMs: 0 });
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs (or re-runs) the shard's long-lived piscina task; resolves when the worker reports ready. */
  private launch(sh: ShardLink): Promise<void> {
    const { port1, port2 } = new MessageChannel();
    const task: ShardTask = {
      shard: sh.index,
      shards: this.shards.length,
      generation: sh.generation,
      fleet: this.fleetInput,
      slice: this.fleet.slice,
      sq: sh.sqBuf,
      cq: sh.cqBuf,
      ctl: sh.ctlBuf,
      mux: this.muxBuf,
      arena: sh.arena,
      port: port2,
      spinNs: this.spinNs,
      maxSpinners: this.maxSpinners,
      napNs: this.napNs,
    };
    const ready = new Promise<void>((resolve, reject) => {
      port1.on('message', (m: { type: string }) => {
        if (m.type === 'ready') {
          sh.status = 'ready';
          resolve();
          this.pump(sh);
          this.flush();
        }
      });
      sh.onReady = resolve;
      sh.task = this.pool.run(task, { transferList: [port2] }).then(
        (report: ShardReport) => {
          port1.close();
          this.taskEnded(sh, null, report);
        },
        (err: unknown) => {
          port1.close();
          reject(err);
          this.taskEnded(sh, err instanceof Error ? err : new Error(String(err)), null);
        },
      );
    });
    ready.catch(() => {});
    return ready;
  }

  /** A shard task returned or died. Unless we asked it to stop, every request it held fails exactly once. */
  private taskEnded(sh: ShardLink, err: Error | null, _report: ShardReport | null): void {
    if (this.closed || (this.closing && err === null)) {
      sh.status = 'stopped';
      return;
    }
    // Nothing may be written to the dead worker's rings from here on (freeing slots unparks requests).
    sh.status = 'restarting';
    // Completions the worker published before it died are real answers: deliver them first.
    this.drain(sh);
    const reason = err?.message ?? 'the shard task returned unexpectedly';
    let lost = 0;
    for (let tag = 0; tag < sh.slots.length; tag++) {
      const p = sh.slots[tag];
      if (p === undefined) continue;
      this.freeSlot(sh, tag, p);
      if (p.state === PState.IN_FLIGHT) {
        lost++;
        this.failed++;
        p.settleError(new WorkerLostError(
          `the worker serving ${p.device.id} (shard ${sh.index}) died while opcode 0x${hex4(p.opcode)} was in flight: ${reason}; the shard is restarting, retry the request`,
          { device: p.device.id, opcode: p.opcode, shard: sh.index }));
      } else {
        p.state = PState.DONE;
      }
    }
    sh.cancels.length = 0;
    const now = Date.now();
    sh.restarts = sh.restarts.filter((t) => now - t < this.restartWindowMs);
    const lostInfo = { shard: sh.index, generation: sh.generation, error: reason, lost };
    this.emit('worker-lost', lostInfo);
    Channels.workerLost.publish(lostInfo);
    if (this.closing || sh.restarts.length >= this.maxRestarts) {
      sh.status = 'dead';
      this.failQueued(sh, new WorkerLostError(
        this.closing ? `shard ${sh.index} died while the mux was closing`
          : `shard ${sh.index} died ${sh.restarts.length + 1} times within ${this.restartWindowMs} ms and will not be restarted: ${reason}`,
        { shard: sh.index }));
      this.checkDrained();
      return;
    }
    sh.restarts.push(now);
    sh.generation++;
    sh.status = 'restarting';
    sh.freshRings();
    this.launch(sh).then(
      () => {
        const info = { shard: sh.index, generation: sh.generation };
        this.emit('worker-restarted', info);
        Channels.workerRestarted.publish(info);
      },
      () => {},
    );
    this.checkDrained();
  }

  private failQueued(sh: ShardLink, err: MbxError): void {
    for (const s of sh.rr) {
      const q = s.queues[sh.index]!;
      while (q.length > 0) {
        const p = q.shift()!;
        if (p.active) {
          s.queued--;
          this.queuedTotal--;
          this.failed++;
          p.fail(err);
        }
      }
    }
    sh.rr.length = 0;
    for (const [di, who] of [...this.parkedBy]) {
      if (this.table.shard[di] !== sh.index) continue;
      for (const s of who) {
        const f = s.parked!.get(di)!;
        while (f.length > 0) {
          const p = f.shift()!;
          if (!p.active) continue;
          s.queued--;
          this.queuedTotal--;
          this.failed++;
          p.fail(err);
        }
        s.parked!.delete(di);
      }
      this.parkedBy.delete(di);
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
    if (this.closing) throw new ClosedError();
    const tier = parseTier(opts.tier ?? 'debug-read');
    const host = intOption(opts.host, 'host', 0, 65535, 0);
    const queueLimit = intOption(opts.queueLimit, 'queueLimit', 1, 1 << 30, 1 << 20);
    const id = this.nextSessionId++;
    const s = new Session(id, this, tier, host, opts.fabricManager === true, queueLimit, opts.name ?? `session-${id}`, this.shards.length);
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
    // waiting ones first (expire() leaves them in their FIFOs, dropped lazily), so that the pumps the cancels
    // below run cannot write any of them into a ring
    for (const q of s.queues) for (const p of q) this.expire(p, err);
    if (s.parked !== null) for (const f of s.parked.values()) for (const p of f) this.expire(p, err);
    for (const sh of this.shards) {
      for (let tag = 0; tag < sh.slots.length; tag++) {
        const p = sh.slots[tag];
        if (p !== undefined && p.session === s) this.expire(p, err);
      }
    }
  }

  stats(): MuxStats {
    return {
      shards: this.shards.map((sh) => ({
        index: sh.index, status: sh.status, generation: sh.generation, inFlight: sh.inFlight,
        requests: sh.ctl[64] ?? 0, sleeps: sh.ctl[66] ?? 0, cqWaits: sh.ctl[67] ?? 0,
      })),
      inFlight: this.inFlightTotal,
      queued: this.queuedTotal,
      completed: this.completed,
      failed: this.failed,
      mainWakeups: this.bell.seq(),
      workerWakeups: this.shards.reduce((n, sh) => n + sh.sq.dataBell.notifies + sh.cq.spaceBell.notifies, 0),
      quickPolls: this.quickPolls,
      quickHits: this.quickHits,
      strayCompletions: this.strayCompletions,
      settledTwice: this.settledTwice,
    };
  }

  /** @internal see SessionHost */
  noteSettledTwice(): void {
    this.settledTwice++;
  }

  // ------------------------------------------------------------------ request path

  dispatch(session: Session, req: SendRequest): Promise<CommandResult> {
    let p: Pending;
    try {
      p = this.admit(session, req);
    } catch (e) {
      if (e instanceof PermissionError && Channels.refused.hasSubscribers) Channels.refused.publish({ session: session.name, device: req.device, error: e });
      return Promise.reject(e);
    }
    // One shared executor instead of a closure per request (less garbage at a million requests a second).
    const promise = new Promise<CommandResult>(captureResolvers);
    p.resolve = captured.resolve;
    p.reject = captured.reject;
    if (Channels.requestStart.hasSubscribers || Channels.requestEnd.hasSubscribers) {
      p.traceId = newTraceId();
      Channels.requestStart.publish({
        id: p.traceId, mux: this, session: session.name, tier: session.tier, host: session.host, fabricManager: session.fabricManager,
        device: p.device.id, request: req, time: performance.now(),
      });
    }
    this.enqueue(session, p, req);
    return promise;
  }

  /** Validates a request and builds its Pending (throws typed errors; nothing is queued on failure). */
  private admit(session: Session, req: SendRequest): Pending {
    if (this.closing) throw new ClosedError();
    if (session.closed) throw new ClosedError('this session is closed; open a new one with mux.openSession()');
    if (typeof req !== 'object' || req === null) throw new BadRequestError('send() takes an object: { device, opcode, payload? }');
    const t = this.table;
    const di = t.find(req.device);
    if (di < 0) {
      throw new BadRequestError(`unknown device ${JSON.stringify(req.device)}: list devices with mux.devices() or \`mbxmux devices\``,
        { device: req.device }, 'EMBX_UNKNOWN_DEVICE');
    }
    const d = t.desc[di]!;
    if (t.direct[di] === 0) {
      const via = d.tunnelOnly ? `${this.fleet.devices[d.tunnelOnly.via]!.id} port ${d.tunnelOnly.port}` : 'its switch';
      throw new BadRequestError(`${d.id} is an MLD's FM-owned LD and answers only through a tunnel (opcode 0x5300 to ${via})`, { device: d.id });
    }
    const opcode = req.opcode;
    if (!Number.isInteger(opcode) || opcode < 0 || opcode > 0xffff) {
      throw new BadRequestError(`opcode must be an integer from 0x0000 to 0xFFFF (got ${JSON.stringify(opcode)})`, { opcode });
    }
    if (req.timeoutMs !== undefined) timeoutOption(req.timeoutMs, 'timeoutMs', 0);
    if (req.signal?.aborted) throw new CancelledError('EMBX_ABORTED', 'the request was aborted before it was sent', { device: d.id, opcode });
    if (this.shards[t.shard[di]!]!.status === 'dead') {
      throw new WorkerLostError(`the worker serving ${d.id} (shard ${t.shard[di]}) died too often and is not restarted; create a new mux`,
        { device: d.id, shard: t.shard[di] });
    }
    let p: Pending;
    const payload = req.payload;
    if (t.wire[di] === Wire.CXL && req.tunnel === undefined && req.mctpType === undefined && req.data === undefined) {
      // the hot path: a plain mailbox command, no allocation beyond the Pending
      if (payload !== undefined && !(payload instanceof Uint8Array)) throw new BadRequestError('payload must be a Uint8Array (or Buffer)');
      if (payload !== undefined && payload.byteLength > t.maxPayload[di]!) {
        throw new BadRequestError(`payload of ${payload.byteLength} bytes exceeds ${d.id}'s mailbox of ${d.mailboxBytes} bytes`,
          { device: d.id, length: payload.byteLength, limit: d.mailboxBytes });
      }
      p = new Pending(session, d, di, t.shard[di]!, t.local[di]!, opcode, 0, payload !== undefined && payload.byteLength > 0 ? payload : null, 0, 0, 0, decodeCxl);
    } else {
      const e = encodeRequest(req, d);
      p = new Pending(session, d, di, t.shard[di]!, t.local[di]!, e.opcode, e.flags, e.payload, e.a0, 0, 0, e.decode);
      if (e.longLived === true) p.longLived = true;
    }
    if (!session.system && this.checkPermissions) {
      if (req.timeoutMs === 0 && this.defaultTimeoutMs !== 0) this.policy.checkNoTimeout(session, di, p.opcode);
      p.audit = this.policy.check(session, di, p.opcode, p.payload);
      if (p.audit !== null) p.auditLog = this.policy.audit;
    }
    return p;
  }

  private enqueue(session: Session, p: Pending, req: SendRequest): void {
    const sh = this.shards[p.shard]!;
    session.sent++;
    const q = session.queues[sh.index]!;
    if (!session.system) {
      // (the mux's own enumeration session does not count: it is done before any caller's request)
      if (sh.lastSession !== session) {
        // shared: the session that sent here before this one is still open and sent within SHARED_NS
        const prev = sh.lastSession;
        const now = nowNs();
        if (prev !== null && !prev.closed && now - sh.lastSendNs < SHARED_NS) sh.sharedUntilNs = now + SHARED_NS;
        sh.lastSession = session;
      }
      sh.lastSendNs = this.turnStartNs;
    }
    const direct = q.length === 0 && sh.status === 'ready' && session.inFlight[sh.index]! < this.windowOf(sh)
      && sh.free.length > 0 && this.deviceRoom(sh, p, this.deviceWindowOf(sh)) && (session.parked === null || !session.parked.has(p.di));
    if (!(direct && this.write(sh, p))) {
      if (req.noWait) {
        p.settleError(new BackpressureError('EMBX_RING_FULL',
          `no ring room for ${p.device.id} right now (shard ${sh.index} has ${sh.inFlight} requests in flight); retry, or send without noWait to queue`,
          { device: p.device.id, shard: sh.index }));
        return;
      }
      if (session.queued >= session.queueLimit) {
        p.settleError(new BackpressureError('EMBX_BACKPRESSURE',
          `session ${session.name} already has ${session.queued} requests waiting (queueLimit ${session.queueLimit}); await earlier requests or raise queueLimit`,
          { session: session.name, queued: session.queued }));
        return;
      }
      // Queued requests keep their own copy: the caller may reuse its buffer as soon as send() returns.
      if (p.payload !== null) p.payload = this.queuedBytes.copy(p.payload, 0, p.payload.byteLength);
      q.push(p);
      session.queued++;
      this.queuedTotal++;
      if (q.length === 1) sh.rr.push(session);
      // It may be waiting only behind requests for a saturated device: let the next flush pump (and park)
      // rather than wait for a completion from this shard that may never come.
      if (sh.status === 'ready' && sh.free.length > 0 && session.inFlight[sh.index]! < this.windowOf(sh) && !sh.needsPump) {
        sh.needsPump = true;
        this.scheduleFlush();
      }
    }
    const timeoutMs = req.timeoutMs ?? this.defaultTimeoutMs;
    if (timeoutMs > 0) this.deadlines.add(p, timeoutMs, performance.now());
    const signal = req.signal;
    if (signal !== undefined) {
      const onAbort = (): void => this.expire(p, new CancelledError('EMBX_ABORTED', `the request to ${p.device.id} was aborted`,
        { device: p.device.id, opcode: p.opcode }));
      signal.addEventListener('abort', onAbort, { once: true });
      p.abortCleanup = () => signal.removeEventListener('abort', onAbort);
    }
    if (!this.kept) {
      this.kept = true;
      this.keepAlive.ref();
    }
  }

  /** Writes one request into the shard's SQ (unpublished). False if the ring has no room. */
  private write(sh: ShardLink, p: Pending): boolean {
    const len = p.payload === null ? 0 : p.payload.byteLength;
    const at = sh.sq.reserve(len);
    if (at < 0) return false;
    if (len > 0) sh.sq.payload.set(p.payload!, at);
    const tag = sh.free.pop()!;
    sh.slots[tag] = p;
    p.tag = tag;
    p.state = PState.IN_FLIGHT;
    sh.sq.commit(tag, p.local, p.opcode, p.flags, p.a0, p.a1, p.a2);
    if (p.longLived) {
      sh.longLived++;
    } else {
      p.session.inFlight[sh.index]!++;
      this.devInFlight[p.di]!++;
    }
    this.inFlightTotal++;
    if (!sh.dirty && sh.free.length === sh.geometry.window - 1) {
      // The first request to an idle shard goes out now: a spinning worker starts on it while the caller's
      // burst (if any) is still being written; the rest of the burst is published once, at the microtask.
      sh.sq.publish();
      this.ensurePolling();
      this.scheduleQuickPoll(sh);
    } else {
      this.markDirty(sh);
    }
    return true;
  }

  private markDirty(sh: ShardLink): void {
    sh.dirty = true;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushTask);
    }
  }

  private readonly flushTask = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  /** Publishes every dirty SQ (one Atomics.store each) and makes sure someone watches for completions. */
  private flush(): void {
    for (const sh of this.shards) {
      if (sh.needsPump) {
        sh.needsPump = false;
        this.pump(sh);
      }
      if (!sh.dirty) continue;
      sh.dirty = false;
      sh.sq.publish();
      this.scheduleQuickPoll(sh);
    }
    if (this.inFlightTotal > 0) this.ensurePolling();
  }

  private scheduleQuickPoll(sh: ShardLink): void {
    // only for a lightly loaded shard: under load an answer is either already there or behind a batch, and the
    // spin would only take time from the requests being processed
    if (this.mainSpinNs > 0 && !this.quickScheduled && sh.inFlight - sh.longLived <= QUICK_MAX_IN_FLIGHT && !sh.sq.dataBell.peerSleeping()) {
      this.quickScheduled = true;
      queueMicrotask(this.quickPoll);
    }
  }

  /** Timeout or abort: reject now; a request the worker holds is also cancelled there. */
  private expire(p: Pending, err: MbxError): void {
    if (!p.active) return;
    this.failed++;
    if (p.state === PState.QUEUED) {
      p.session.queued--;
      this.queuedTotal--;
      p.fail(err);
      this.checkDrained();
      return;
    }
    p.fail(err); // now CANCELLED: the slot stays taken until the worker answers
    const sh = this.shards[p.shard]!;
    sh.cancels.push(p);
    this.pump(sh);
    this.flush();
  }

  /** Moves cancels and queued requests into the SQ while there is room, round-robin over sessions. */
  private pump(sh: ShardLink): void {
    if (sh.status !== 'ready') return;
    if (this.parkedBy.size > 0) {
      for (const di of [...this.parkedBy.keys()]) if (this.table.shard[di] === sh.index) this.unpark(di, sh);
    }
    while (sh.cancels.length > 0) {
      const p = sh.cancels[0]!;
      if (p.state !== PState.CANCELLED) {
        sh.cancels.shift();
        continue;
      }
      if (sh.sq.reserve(0) < 0) return;
      sh.sq.commit(p.tag, p.local, p.opcode, SqFlag.CANCEL);
      sh.cancels.shift();
      this.markDirty(sh);
    }
    const rr = sh.rr;
    const window = this.windowOf(sh);
    const devWindow = this.deviceWindowOf(sh);
    let progress = true;
    while (progress && rr.length > 0 && sh.free.length > 0) {
      progress = false;
      for (let i = 0; i < rr.length && sh.free.length > 0;) {
        const s = rr[i]!;
        const q = s.queues[sh.index]!;
        let moved = 0;
        while (moved < QUANTUM && q.length > 0 && sh.free.length > 0 && s.inFlight[sh.index]! < window) {
          const p = q.peek()!;
          if (!p.active) {
            q.shift();
            continue;
          }
          if (!this.deviceRoom(sh, p, devWindow) || (s.parked !== null && s.parked.has(p.di))) {
            q.shift();
            this.park(s, p);
            continue;
          }
          if (!this.write(sh, p)) return;
          q.shift();
          s.queued--;
          this.queuedTotal--;
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
  private windowOf(sh: ShardLink): number {
    return this.turnStartNs < sh.sharedUntilNs ? this.sharedSessionWindow : this.sessionWindow;
  }

  private deviceWindowOf(sh: ShardLink): number {
    return this.turnStartNs < sh.sharedUntilNs ? this.sharedDeviceWindow : this.deviceWindow;
  }

  /**
   * Room for `p` at its device: a place in the device window or, for a long-lived request, one of the shard's
   * long-lived slots (an AER the device may hold for good must not take a place other sessions wait for).
   */
  private deviceRoom(sh: ShardLink, p: Pending, devWindow: number): boolean {
    return p.longLived ? sh.longLived < sh.longLivedCap : this.devInFlight[p.di]! < devWindow;
  }

  private freeSlot(sh: ShardLink, tag: number, p: Pending): void {
    sh.slots[tag] = undefined;
    sh.free.push(tag);
    if (p.longLived) {
      sh.longLived--;
    } else {
      p.session.inFlight[sh.index]!--;
      this.devInFlight[p.di]!--;
    }
    this.inFlightTotal--;
    if (this.parkedBy.size > 0 && this.parkedBy.has(p.di)) this.unpark(p.di, sh);
  }

  /** Sets aside a request whose device is saturated, keeping that device's requests in order. */
  private park(s: Session, p: Pending): void {
    const parked = (s.parked ??= new Map());
    let f = parked.get(p.di);
    if (f === undefined) {
      f = new Fifo<Pending>();
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
   * Writes parked requests of device `di` while it, its shard and their sessions have room, one request per
   * session per pass (round-robin), so a session flooding a device cannot keep another session's request to
   * the same device waiting behind all of its own. The session served first moves to the back each call.
   */
  private unpark(di: number, sh: ShardLink): void {
    const who = this.parkedBy.get(di);
    if (who === undefined || sh.status !== 'ready') return;
    const window = this.windowOf(sh);
    const devWindow = this.deviceWindowOf(sh);
    let progress = true;
    while (progress && who.size > 0 && sh.free.length > 0 && (this.devInFlight[di]! < devWindow || sh.longLived < sh.longLivedCap)) {
      progress = false;
      for (const s of who) {
        const f = s.parked!.get(di)!;
        while (f.length > 0 && !f.peek()!.active) f.shift();
        if (f.length > 0 && this.deviceRoom(sh, f.peek()!, devWindow) && sh.free.length > 0 && s.inFlight[sh.index]! < window) {
          if (!this.write(sh, f.peek()!)) return;
          f.shift();
          s.queued--;
          this.queuedTotal--;
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

  /** Takes every published completion of one shard and settles its requests. */
  private drain(sh: ShardLink): number {
    const cq = sh.cq;
    const n = cq.available();
    if (n === 0) return 0;
    for (let i = 0; i < n; i++) {
      const w = cq.slotWord(i);
      const tag = cq.tag(w);
      const p = sh.slots[tag];
      if (p === undefined) {
        // nothing holds this tag: a second completion record for a request already answered
        this.strayCompletions++;
        continue;
      }
      this.freeSlot(sh, tag, p);
      const flags = cq.flags(w);
      if (p.state === PState.CANCELLED) {
        p.state = PState.DONE;
        continue;
      }
      if ((flags & (CqFlag.CANCELLED | CqFlag.FAILED)) !== 0) {
        this.failed++;
        p.settleError(completionError(p, flags, cq.arg1(w), cq.payloadOf(w)));
        continue;
      }
      let result: unknown;
      try {
        // the decoder copies the answer out of the ring (whose bytes are reused once released) into its own bytes
        result = p.decode(cq.arg0(w), flags, cq.arg1(w), cq.arg2(w), cq.payload, cq.payloadIndex(w), cq.payloadLength(w));
      } catch (e) {
        // A device answer the decoder cannot read fails this request only (never the drain, the batch or the
        // process: this runs on the event loop with no caller's frame to catch it).
        this.failed++;
        p.settleError(malformedAnswer(p, e));
        continue;
      }
      this.completed++;
      p.settle(result);
    }
    cq.release(n);
    return n;
  }

  private ensurePolling(): void {
    if (this.bell.sleeping()) this.bell.setSleeping(false);
    if (!this.pollScheduled) {
      this.lastActivityNs = nowNs();
      this.pollScheduled = true;
      setImmediate(this.pollTask);
    }
  }

  /** Drains every serving shard's CQ and refills the shards that freed slots; returns the completions taken. */
  private drainAll(): number {
    let got = 0;
    for (const sh of this.shards) {
      if (sh.status !== 'ready') continue;
      const n = this.drain(sh);
      if (n > 0) {
        got += n;
        this.pump(sh);
      }
    }
    return got;
  }

  /**
   * A request went to an idle shard whose worker is awake: its answer is ~1 µs away, while waiting for the
   * next event-loop turn costs ~3 µs. So, once the caller's synchronous code is done (a microtask), watch
   * the completion rings in a tight loop, at most mainSpinUs per event-loop turn in all: the main thread is
   * never held longer than that, and a turn whose budget is spent falls back to pollTask.
   */
  private readonly quickPoll = (): void => {
    this.quickScheduled = false;
    const budget = this.mainSpinNs - this.turnSpinNs;
    if (budget <= 0 || this.inFlightTotal === 0 || this.closed) return;
    const t0 = nowNs();
    if (t0 - this.turnStartNs > MAX_TURN_NS) return;
    this.quickPolls++;
    const until = t0 + budget;
    let got = 0;
    let now = t0;
    for (;;) {
      got = this.drainAll();
      now = nowNs();
      if (got > 0 || now >= until) break;
    }
    this.turnSpinNs += now - t0;
    if (got > 0) {
      this.quickHits++;
      this.lastActivityNs = now;
      this.flush();
    }
  };

  private readonly pollTask = (): void => {
    this.pollScheduled = false;
    this.turnSpinNs = 0;
    this.turnStartNs = nowNs();
    const got = this.drainAll();
    if (got > 0) {
      this.deadlines.prune();
      this.flush();
    }
    const now = nowNs();
    if (got > 0) this.lastActivityNs = now;
    if (this.inFlightTotal === 0) {
      this.becameIdle();
      return;
    }
    if (now - this.lastActivityNs < this.pollNs) {
      if (!this.pollScheduled) {
        this.pollScheduled = true;
        setImmediate(this.pollTask);
      }
    } else {
      this.armBell();
    }
  };

  private anyCompletion(): boolean {
    for (const sh of this.shards) if (sh.status === 'ready' && sh.cq.available() > 0) return true;
    return false;
  }

  /** Nothing arrived for pollUs: sleep in Atomics.waitAsync until a worker rings (see CompletionBell). */
  private armBell(): void {
    const seq = this.bell.seq();
    this.bell.setSleeping(true);
    if (this.anyCompletion()) {
      this.ensurePolling();
      return;
    }
    if (this.waiter !== null) return; // the pending waitAsync is still armed on an unchanged SEQ
    const w = this.bell.waitAsync(seq);
    if (w === null) {
      this.ensurePolling();
      return;
    }
    this.waiter = w.then(() => {
      this.waiter = null;
      if (this.closed) return;
      if (this.bell.sleeping()) this.ensurePolling();
    });
  }

  private becameIdle(): void {
    this.deadlines.prune();
    if (this.queuedTotal === 0 && this.kept) {
      this.kept = false;
      this.keepAlive.unref();
    }
    this.checkDrained();
  }

  private checkDrained(): void {
    if (this.inFlightTotal === 0 && this.queuedTotal === 0 && this.drainedWaiters.length > 0) {
      const w = this.drainedWaiters;
      this.drainedWaiters = [];
      for (const f of w) f();
    }
  }

  /** Resolves when nothing is queued or in flight. */
  whenDrained(opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.inFlightTotal === 0 && this.queuedTotal === 0) return Promise.resolve();
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(new CancelledError('EMBX_ABORTED', 'whenDrained() was aborted'));
    return new Promise((resolve, reject) => {
      const done = (): void => {
        signal?.removeEventListener('abort', abort);
        resolve();
      };
      const abort = (): void => {
        const i = this.drainedWaiters.indexOf(done);
        if (i >= 0) this.drainedWaiters.splice(i, 1);
        reject(new CancelledError('EMBX_ABORTED', 'whenDrained() was aborted'));
      };
      signal?.addEventListener('abort', abort, { once: true });
      this.drainedWaiters.push(done);
    });
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
    this.closing = true;
    this.closePromise = this.doClose(timeoutMs, opts.signal);
    return this.closePromise;
  }

  /** Drains for up to `timeoutMs`, or until `signal` aborts (then whatever is left is rejected at once). */
  private async doClose(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if ((this.inFlightTotal > 0 || this.queuedTotal > 0) && !signal?.aborted) {
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      await Promise.race([
        this.whenDrained(),
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
    for (const sh of this.shards) {
      this.failQueued(sh, err);
      for (let tag = 0; tag < sh.slots.length; tag++) {
        const p = sh.slots[tag];
        if (p !== undefined && p.active) {
          this.failed++;
          p.fail(err);
        }
      }
    }
    for (const sh of this.shards) sh.requestStop();
    await Promise.allSettled(this.shards.map((sh) => sh.task));
    this.closed = true;
    this.deadlines.clear();
    this.bell.wake();
    clearInterval(this.keepAlive);
    await this.pool.destroy();
    await this.policy.audit.close();
    this.inFlightTotal = 0;
    this.checkDrained();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

const captured: { resolve: (v: unknown) => void; reject: (e: unknown) => void } = { resolve: () => {}, reject: () => {} };
function captureResolvers(resolve: (v: CommandResult) => void, reject: (e: unknown) => void): void {
  captured.resolve = resolve as (v: unknown) => void;
  captured.reject = reject;
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

function completionError(p: Pending, flags: number, failure: number, detail: Uint8Array): MbxError {
  const text = decoder.decode(detail);
  if ((flags & CqFlag.CANCELLED) !== 0) {
    return new CancelledError('EMBX_ABORTED', `${p.device.id} dropped opcode 0x${hex4(p.opcode)} (cancelled in the worker)`, { device: p.device.id });
  }
  if (failure === WorkerFailure.TRANSPORT) return new TransportError(`${p.device.id}: ${text}`, { device: p.device.id, opcode: p.opcode });
  if (failure === WorkerFailure.PROTOCOL) return malformedAnswer(p, new Error(text));
  return new BadRequestError(`${p.device.id}: ${text}`, { device: p.device.id, opcode: p.opcode });
}

/** EMBX_PROTOCOL for a device answer that cannot be read (found by the worker's host driver or the decoder). */
function malformedAnswer(p: Pending, cause: unknown): ProtocolError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new ProtocolError(`${p.device.id} sent a malformed answer to opcode 0x${hex4(p.opcode)}, which was not delivered: ${why}; `
    + 'retry, and check the device (or its faults.malformed)', { device: p.device.id, opcode: p.opcode });
}

/** Creates a mux and waits until every shard worker serves its rings. */
export async function createMux(opts: MuxOptions = {}): Promise<Mux> {
  const mux = new Mux(opts);
  await mux.start(undefined, opts.signal);
  return mux;
}
