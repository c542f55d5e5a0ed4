import { EventEmitter } from 'node:events';
import { BadRequestError, CancelledError, ClosedError, FleetError, type MbxError, NotRunError, ServerLostError } from '../errors.js';
import type { FleetSlice } from '../fleet/types.js';
import type { CommandResult, DeviceInfo, SendRequest } from '../mux/types.js';
import type { Tier } from '../policy/tiers.js';
import { type FleetEndpoint, endpointName } from './endpoints.js';
import type { EffectEntry, WelcomeFrame } from './frames.js';
import { SocketClient } from './socket-client.js';

/**
 * A client for a fleet served by many `mbxmux serve` processes (typically one `--slice i/N` each, on one or many
 * machines): one connection and session per server, requests routed by device id, and the surface of an
 * in-process mux session: `send()`, `devices()` (every server's devices, in the order of the whole fleet),
 * `effects()`.
 *
 *   await using fleet = await connectFleet(['unix:/run/a.sock', 'tcp://10.0.0.7:7070'], { token, tier: 'debug-read' });
 *   await fleet.send({ device: 'mem5', opcode: 0x4200 });   // to whichever server serves mem5
 *
 * A server that goes away fails the requests it had in flight with ServerLostError (EMBX_SERVER_LOST;
 * `context.notRun` when they certainly never ran), requests for its devices fail at once with the same error
 * while it is away, and the client reconnects with exponential backoff. Events: 'disconnect' { endpoint, error,
 * retryInMs }, 'retry' { endpoint, error, attempt, retryInMs } after each failed attempt, 'reconnect' { endpoint,
 * devices }.
 */

export interface FleetClientOptions {
  /** the token every server's token file gives this client (an endpoint's own `token` overrides it) */
  token?: string;
  /** session tier asked of every server (each caps it; see servers()[i].tier) */
  tier?: Tier;
  /** host the sessions act for (default: each server's choice) */
  host?: number;
  /** ask for fabric-manager sessions */
  fabricManager?: boolean;
  /** a label, shown in each server's session name and audit records */
  name?: string;
  /** how long connectFleet keeps trying to reach every server, ms (default 30 s: servers may still be starting) */
  connectTimeoutMs?: number;
  /** reconnect backoff: first delay (default 100 ms), doubling up to maxDelayMs (default 5 s), each shortened
   *  by a random share of up to `jitter` (default 0.5) so clients do not reconnect in lockstep */
  retry?: { initialDelayMs?: number; maxDelayMs?: number; jitter?: number };
  /** largest frame accepted from a server (default 16 MiB) */
  maxFrameBytes?: number;
  signal?: AbortSignal;
}

/** One server of the fleet, as the client sees it now. */
export interface FleetServerState {
  endpoint: string;
  state: 'up' | 'down' | 'closed';
  /** devices this server serves */
  devices: number;
  slice?: FleetSlice;
  /** the session the server granted (see SocketClient.welcome) */
  session: string;
  tier: Tier;
  host: number;
  fabricManager: boolean;
  /** requests sent to it and not yet answered */
  inFlight: number;
  /** times the connection was re-established */
  reconnects: number;
  /** why it is down (or the last reconnect attempt failed) */
  lastError?: string;
}

const RETRYABLE = (e: MbxError): boolean => e instanceof ClosedError || (e instanceof CancelledError && e.code === 'EMBX_TIMEOUT');

/** One server: its connection (null while it is down), what it serves, and its reconnect state. */
class Member {
  client: SocketClient | null = null;
  welcome: WelcomeFrame | null = null;
  devices: DeviceInfo[] = [];
  state: 'up' | 'down' | 'closed' = 'down';
  /** failed attempts since the last success: the backoff exponent */
  failures = 0;
  reconnects = 0;
  lastError: MbxError | null = null;
  timer: NodeJS.Timeout | null = null;
  /** when the next attempt runs (performance.now() ms) */
  retryAt = 0;
  constructor(readonly endpoint: FleetEndpoint, readonly name: string) {}
}

export class FleetClient extends EventEmitter {
  private readonly members: Member[];
  private readonly route = new Map<string, Member>();
  private sorted: DeviceInfo[] | null = null;
  private closed = false;

  /** Use connectFleet(). */
  constructor(endpoints: readonly FleetEndpoint[], private readonly opts: FleetClientOptions = {}) {
    super();
    if (endpoints.length === 0) throw new BadRequestError('connectFleet needs at least one endpoint (unix:/path or tcp://host:port)');
    this.members = endpoints.map((e) => new Member(e, endpointName(e)));
    const seen = new Set<string>();
    for (const m of this.members) {
      if (seen.has(m.name)) throw new BadRequestError(`endpoint ${m.name} is listed twice`);
      seen.add(m.name);
    }
  }

  /** Connects to every server (retrying with backoff until connectTimeoutMs) and checks what they serve. */
  async start(): Promise<void> {
    const deadline = performance.now() + (this.opts.connectTimeoutMs ?? 30_000);
    try {
      await Promise.all(this.members.map((m) => this.firstConnect(m, deadline)));
      this.checkSlices();
      for (const m of this.members) this.adopt(m);
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  private async firstConnect(m: Member, deadline: number): Promise<void> {
    for (;;) {
      try {
        await this.open(m, Math.max(1, Math.min(10_000, deadline - performance.now())));
        return;
      } catch (e) {
        const err = e as MbxError;
        m.lastError = err;
        const wait = this.backoff(m.failures++);
        if (this.closed || !RETRYABLE(err) || performance.now() + wait > deadline || this.opts.signal?.aborted) {
          throw retag(err, `${m.name}: ${err.message}${RETRYABLE(err) ? ` (gave up after ${m.failures} attempt${m.failures === 1 ? '' : 's'})` : ''}`);
        }
        await new Promise<void>((r) => setTimeout(r, wait));
      }
    }
  }

  /** One connection attempt: hello, welcome, the device list. */
  private async open(m: Member, timeoutMs: number): Promise<void> {
    const o = this.opts;
    const where = 'path' in m.endpoint ? { path: m.endpoint.path } : { port: m.endpoint.port, address: m.endpoint.address ?? '127.0.0.1' };
    const token = m.endpoint.token ?? o.token;
    const client = await SocketClient.connect({
      ...where, tier: o.tier ?? 'debug-read', devices: true, connectTimeoutMs: timeoutMs,
      ...(token !== undefined ? { token } : {}), ...(o.host !== undefined ? { host: o.host } : {}),
      ...(o.fabricManager !== undefined ? { fabricManager: o.fabricManager } : {}), ...(o.name !== undefined ? { name: o.name } : {}),
      ...(o.maxFrameBytes !== undefined ? { maxFrameBytes: o.maxFrameBytes } : {}), ...(o.signal !== undefined ? { signal: o.signal } : {}),
    });
    if (this.closed) {
      await client.close();
      throw new ClosedError('the fleet client was closed while connecting');
    }
    m.client = client;
    m.welcome = client.welcome;
    m.devices = client.welcome.devices ?? [];
    m.state = 'up';
    m.failures = 0;
    m.lastError = null;
    client.once('close', (err: MbxError) => this.lost(m, client, err));
  }

  /** Servers that say they are slices must be slices of one split: the same count, each index once. */
  private checkSlices(): void {
    const sliced = this.members.filter((m) => m.welcome?.slice !== undefined);
    const counts = new Set(sliced.map((m) => m.welcome!.slice!.count));
    if (counts.size > 1) {
      throw new FleetError(`the servers are slices of different splits: ${sliced.map((m) => `${m.name} is ${m.welcome!.slice!.index}/${m.welcome!.slice!.count}`).join(', ')}; `
        + 'start every server of one fleet with --slice i/N and the same N');
    }
  }

  /** Routes the member's devices to it; a device another server already serves is refused. */
  private adopt(m: Member): void {
    for (const d of m.devices) {
      const other = this.route.get(d.id);
      if (other !== undefined && other !== m) {
        const slices = other.welcome?.slice && m.welcome?.slice ? ` (slices ${other.welcome.slice.index}/${other.welcome.slice.count} and ${m.welcome.slice.index}/${m.welcome.slice.count})` : '';
        throw new FleetError(`device ${d.id} is served by both ${other.name} and ${m.name}${slices}: start each server of one fleet with its own --slice i/N`);
      }
    }
    for (const d of m.devices) this.route.set(d.id, m);
    this.sorted = null;
  }

  private lost(m: Member, client: SocketClient, err: MbxError): void {
    if (m.client !== client || this.closed) return;
    m.client = null;
    m.state = 'down';
    m.lastError = err;
    this.emit('disconnect', { endpoint: m.name, error: err, retryInMs: this.scheduleReconnect(m) });
  }

  private scheduleReconnect(m: Member): number {
    const wait = this.backoff(m.failures++);
    m.retryAt = performance.now() + wait;
    m.timer = setTimeout(() => void this.reconnect(m), wait);
    return wait;
  }

  private async reconnect(m: Member): Promise<void> {
    m.timer = null;
    if (this.closed) return;
    const before = new Set(m.devices.map((d) => d.id));
    try {
      await this.open(m, 10_000);
    } catch (e) {
      m.lastError = e as MbxError;
      if (!this.closed) this.emit('retry', { endpoint: m.name, error: e, attempt: m.failures, retryInMs: this.scheduleReconnect(m) });
      return;
    }
    // the server may have restarted with another fleet: route what it serves now, if nobody else serves it
    const now = m.devices;
    if (now.length !== before.size || now.some((d) => !before.has(d.id))) {
      for (const id of before) if (this.route.get(id) === m) this.route.delete(id);
      try {
        this.adopt(m);
      } catch (e) {
        m.lastError = e as MbxError;
        const c = m.client;
        m.client = null;
        m.state = 'down';
        m.devices = [];
        this.sorted = null;
        await c?.close();
        if (!this.closed) this.emit('retry', { endpoint: m.name, error: m.lastError, attempt: m.failures, retryInMs: this.scheduleReconnect(m) });
        return;
      }
    }
    this.sorted = null; // the same ids, but the lists are the server's new ones
    m.reconnects++;
    this.emit('reconnect', { endpoint: m.name, devices: m.devices.length });
  }

  /** Delay before attempt `n` (0-based): exponential with a cap, shortened by jitter. */
  private backoff(n: number): number {
    const r = this.opts.retry ?? {};
    const first = r.initialDelayMs ?? 100;
    const cap = r.maxDelayMs ?? 5000;
    const jitter = Math.min(1, Math.max(0, r.jitter ?? 0.5));
    return Math.round(Math.min(cap, first * 2 ** Math.min(n, 30)) * (1 - jitter * Math.random()));
  }

  /** Sends a command to the server that serves `req.device`; resolves with the device's answer. */
  send(req: SendRequest): Promise<CommandResult> {
    const m = this.memberFor(req.device);
    if (m instanceof Error) return Promise.reject(m);
    const c = m.client!;
    return c.send(req).then(undefined, (e: unknown) => this.rethrow(m, c, e));
  }

  /** A device's effects log and the tier each command needs, from the server that serves it. */
  effects(device: string, opts: { signal?: AbortSignal } = {}): Promise<EffectEntry[]> {
    const m = this.memberFor(device);
    if (m instanceof Error) return Promise.reject(m);
    const c = m.client!;
    return c.effects(device, opts).then(undefined, (e: unknown) => this.rethrow(m, c, e));
  }

  /** Every device of every server, in the order of the whole fleet (fleetIndex). */
  devices(): DeviceInfo[] {
    // a server that is down keeps its devices here: they belong to the fleet, and sends to them say why they fail
    this.sorted ??= this.members.flatMap((m) => m.devices.filter((d) => this.route.get(d.id) === m)).sort((a, b) => a.fleetIndex - b.fleetIndex);
    return this.sorted.slice();
  }

  /** Each server: connected or not, what it serves, the session it granted, requests in flight. */
  servers(): FleetServerState[] {
    return this.members.map((m) => {
      const w = m.welcome;
      const s: FleetServerState = {
        endpoint: m.name, state: m.state, devices: m.devices.length, session: w?.session ?? '', tier: w?.tier ?? 'configuration',
        host: w?.host ?? 0, fabricManager: w?.fabricManager ?? false, inFlight: m.client?.inFlight ?? 0, reconnects: m.reconnects,
      };
      if (w?.slice !== undefined) s.slice = { ...w.slice };
      if (m.lastError !== null) s.lastError = `${m.lastError.code}: ${m.lastError.message}`;
      return s;
    });
  }

  /** Requests sent and not yet answered, over every server. */
  get inFlight(): number {
    let n = 0;
    for (const m of this.members) n += m.client?.inFlight ?? 0;
    return n;
  }

  private memberFor(device: string): Member | MbxError {
    if (this.closed) return new ClosedError('this fleet client is closed; connect again with connectFleet()');
    const m = typeof device === 'string' ? this.route.get(device) : undefined;
    if (m === undefined) {
      return new BadRequestError(`unknown device ${JSON.stringify(device)}: none of the ${this.members.length} servers (${this.members.map((x) => x.name).join(', ')}) serves it; `
        + 'list devices with fleet.devices()', { device }, 'EMBX_UNKNOWN_DEVICE');
    }
    if (m.client === null) {
      const inMs = Math.max(0, Math.round(m.retryAt - performance.now()));
      return new ServerLostError(`${m.name}, which serves ${device}, is not connected (${m.lastError?.message ?? 'connection lost'}); `
        + `reconnecting${m.timer !== null ? ` in ${inMs} ms` : ''}. The request was not sent`, { endpoint: m.name, device, notRun: true, retryInMs: inMs });
    }
    return m;
  }

  /**
   * Errors that come from the connection ending, not from the device or the server's answer to the request,
   * become ServerLostError: the connection's closing error itself, NotRunError (the server said it never ran
   * the request), and EMBX_CLOSED answers (the server shut down with the request in flight).
   */
  private rethrow(m: Member, c: SocketClient, e: unknown): never {
    if (!this.closed && (e instanceof ClosedError || (c.closedError !== null && e === c.closedError))) {
      const err = e as MbxError;
      const notRun = err instanceof NotRunError;
      throw new ServerLostError(`${m.name} went away with the request in flight${notRun ? ' (it never ran: safe to send again)' : ' (it may or may not have run)'}: ${err.message}`,
        { ...err.context, endpoint: m.name, notRun, cause: err.code });
    }
    throw e;
  }

  /** Closes every connection and stops reconnecting; requests in flight reject with EMBX_CLOSED. */
  async close(): Promise<void> {
    this.closed = true;
    for (const m of this.members) {
      if (m.timer !== null) clearTimeout(m.timer);
      m.timer = null;
      m.state = 'closed';
    }
    await Promise.all(this.members.map((m) => {
      const c = m.client;
      m.client = null;
      return c?.close();
    }));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The same error class and code with a message that names the server. */
function retag(e: MbxError, message: string): MbxError {
  const copy = Object.create(Object.getPrototypeOf(e) as object) as MbxError;
  Object.assign(copy, e);
  Object.defineProperty(copy, 'message', { value: message, enumerable: false, writable: true, configurable: true });
  Object.defineProperty(copy, 'stack', { value: `${e.name}: ${message}`, enumerable: false, writable: true, configurable: true });
  return copy;
}

/**
 * Connects to every server of a fleet (retrying while they start, up to connectTimeoutMs) and resolves once
 * each has welcomed the client. Refuses servers that serve the same device (each server of one fleet must
 * serve its own `--slice i/N`). Endpoints: `{ path }` or `{ port, address }` (see parseEndpoints for text).
 */
export async function connectFleet(endpoints: readonly FleetEndpoint[], opts: FleetClientOptions = {}): Promise<FleetClient> {
  const c = new FleetClient(endpoints, opts);
  await c.start();
  return c;
}
