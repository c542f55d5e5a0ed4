import { BadRequestError, PermissionError } from '../errors.js';
import { tunnelHop } from '../fleet/tunnel-hop.js';
import type { Fleet } from '../fleet/types.js';
import { AuditLog, type AuditRecord, describeEffects } from './audit.js';
import { type PolicyTable, PolicyTables, type VendorRules } from './policy-table.js';
import { REFUSED_LEVEL, type Tier, TierLevel, tierName } from './tiers.js';

/** What the policy needs to know about the session sending a request. */
export interface PolicySubject {
  readonly name: string;
  readonly tier: Tier;
  readonly level: number;
  readonly host: number;
  readonly fabricManager: boolean;
}

/** A decoded Tunnel Management request: the hops (outermost first) and the innermost command. */
export type TunnelDecode =
  | { hops: { portOrLd: number; targetType: number }[]; opcode: number; payload: Uint8Array }
  | { error: string };

export interface PolicyOptions {
  fabricDestructive: boolean;
  auditLimit?: number;
  auditFile?: string;
  decodeTunnel: (payload: Uint8Array) => TunnelDecode;
  /** opcodes the devices' logs do not list, opened at a tier level (this mux's vendorRules) */
  vendorRules: VendorRules;
  /** the tier level a session needs to send a request with no timeout (MuxOptions.noTimeoutTier) */
  noTimeoutLevel: number;
}

const TUNNEL = 0x5300;
const hex4 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

/**
 * How a request travels, for messages and audit records: the components it passes, starting with the device
 * it was sent to (an MCTP endpoint, then the component it fronts; a switch, then each tunnel hop), or null for
 * a command sent straight to the device that runs it. `tunnel`: the checked opcode is the innermost command
 * of a 5300h request.
 */
interface Route {
  path: string[] | null;
  tunnel: boolean;
}
const DIRECT: Route = { path: null, tunnel: false };

/**
 * The permission check run on every request before it reaches a ring. Tables come from each device's own
 * effects log (read at enumeration); hosts come from the fleet's bindings. A refused request throws
 * PermissionError naming the tier it needed and the effects that required it, and never reaches the device.
 *
 * The check is keyed on the components a request reaches, never on the id it was sent to: an MCTP endpoint
 * stands for the component it fronts, and a tunnel for every component on its path. Each of them passes
 * reach() (host binding, fabric-manager rule); each one that forwards a tunnel must allow 5300h at the
 * session's tier; the one that finally runs the command decides its tier (decide()). No path skips a step.
 */
export class Policy {
  readonly audit: AuditLog;
  /** this mux's tables, built from the logs enumeration reads (never shared with another mux) */
  readonly tableCache: PolicyTables;
  tainted = false;
  taintedBy: AuditRecord | null = null;
  private readonly tables: (PolicyTable | undefined)[];
  private readonly hosts: Uint16Array;
  private readonly isMld: Uint8Array;
  /** the component that runs what is sent to a device: the device itself, or the one an MCTP endpoint fronts */
  private readonly entry: Int32Array;

  constructor(private readonly fleet: Fleet, private readonly opts: PolicyOptions) {
    const n = fleet.devices.length;
    this.tables = new Array<PolicyTable | undefined>(n).fill(undefined);
    this.hosts = new Uint16Array(n);
    this.isMld = new Uint8Array(n);
    this.entry = new Int32Array(n);
    for (const d of fleet.devices) {
      this.hosts[d.index] = d.host;
      this.isMld[d.index] = d.kind === 'cxl-mld' ? 1 : 0;
      this.entry[d.index] = d.mctp ? d.mctp.fronts : d.index;
    }
    this.audit = new AuditLog(opts.auditLimit, opts.auditFile);
    this.tableCache = new PolicyTables(opts.vendorRules);
  }

  setTable(index: number, table: PolicyTable): void {
    this.tables[index] = table;
  }

  /** The table read from this device's own log (undefined if it could not be read). */
  table(index: number): PolicyTable | undefined {
    return this.tables[index];
  }

  /** The table that decides requests sent to this device: its own, or that of the component an MCTP endpoint fronts. */
  tableFor(index: number): PolicyTable | undefined {
    return this.tables[this.entry[index]!];
  }

  /**
   * Checks one request sent to device `sentTo`. Returns null for read-class commands, or the audit record of
   * an allowed write-class command (complete it with audit.finish when the answer arrives). Throws
   * PermissionError or, for a malformed tunnel, BadRequestError.
   */
  check(s: PolicySubject, sentTo: number, opcode: number, payload: Uint8Array | null): AuditRecord | null {
    if (this.plainRead(s, sentTo, opcode)) return null;
    return this.checkFully(s, sentTo, opcode, payload);
  }

  /**
   * check() without its fast path: every rule, in order, with the reasons a refusal gives. check() answers the
   * same for every request (tested); it only skips this for plain reads.
   */
  checkFully(s: PolicySubject, sentTo: number, opcode: number, payload: Uint8Array | null): AuditRecord | null {
    const di = this.entry[sentTo]!;
    const route = this.routeOf(sentTo, di);
    this.reach(s, di, opcode, route);
    if (opcode === TUNNEL && this.tableOf(di).protocol === 'cxl') return this.checkTunnel(s, di, payload, route.path ?? [this.id(di)]);
    return this.decide(s, di, opcode, route);
  }

  /**
   * The common case, decided in a few loads: a read-class command (tier below debug-write, which is never
   * audited) sent straight to a component (no MCTP front, no tunnel) that the session reaches and whose tier
   * it has. Exactly the requests for which the full check returns null without refusing; anything else
   * (false) takes the full check, which gives a refusal its reasons.
   */
  private plainRead(s: PolicySubject, sentTo: number, opcode: number): boolean {
    if (opcode === TUNNEL || this.entry[sentTo] !== sentTo || this.hostRefusal(s, sentTo) !== null) return false;
    const t = this.tables[sentTo];
    if (t === undefined) return false;
    const need = t.level[opcode]!;
    // the same host rule and tier test as the full check (hostRefusal, permits): one place each
    return need < TierLevel['debug-write'] && this.permits(s, need);
  }

  /**
   * A request that never times out (timeoutMs 0) can hold its device, and a place other sessions wait for,
   * for good: it needs noTimeoutLevel. Throws PermissionError (audited) for a session below it.
   */
  checkNoTimeout(s: PolicySubject, sentTo: number, opcode: number): void {
    const need = this.opts.noTimeoutLevel;
    if (this.permits(s, need)) return;
    const di = this.entry[sentTo]!;
    this.refuse(s, di, opcode, need, 0, 'timeoutMs 0 (no timeout) lets a request hold its device for good; give a timeout, '
      + 'or create the mux with a lower noTimeoutTier', this.routeOf(sentTo, di));
  }

  private routeOf(sentTo: number, di: number): Route {
    return di === sentTo ? DIRECT : { path: [this.id(sentTo), this.id(di)], tunnel: false };
  }

  /** A 5300h request to `di`: every component it forwards through and reaches, then its innermost command. */
  private checkTunnel(s: PolicySubject, di: number, payload: Uint8Array | null, path: string[]): AuditRecord | null {
    this.forward(s, di, path.length > 1 ? { path, tunnel: false } : DIRECT);
    const dec = this.opts.decodeTunnel(payload ?? new Uint8Array(0));
    if ('error' in dec) throw new BadRequestError(`malformed tunnel request to ${path.join(' -> ')}: ${dec.error}`, { device: path[0], path });
    const route: Route = { path, tunnel: true };
    let cur = di;
    for (let i = 0; i < dec.hops.length; i++) {
      const hop = dec.hops[i]!;
      if (i > 0) this.forward(s, cur, route); // an intermediate component forwards the tunnel too
      const next = tunnelHop(this.fleet, cur, hop.portOrLd, hop.targetType);
      if (next < 0) {
        const d = this.fleet.devices[cur]!;
        throw new BadRequestError(`tunnel path ${path.join(' -> ')}: ${d.id} has no component at ${d.kind === 'cxl-switch' ? 'port' : 'LD'} ${hop.portOrLd}`,
          { device: path[0], path });
      }
      path.push(this.id(next));
      this.reach(s, next, dec.opcode, route);
      cur = next;
    }
    return this.decide(s, cur, dec.opcode, route);
  }

  /**
   * Why `s` may not reach component `di` (host binding, fabric-manager rule), or null. The check itself
   * (reach) and views of what a session may do (the effects view, MCP resources) both ask here.
   */
  hostRefusal(s: Pick<PolicySubject, 'host' | 'fabricManager'>, di: number): string | null {
    if (s.fabricManager) return null;
    if (this.isMld[di] === 1) return `${this.id(di)} is an MLD's FM-owned LD: only fabric-manager sessions may reach it`;
    if (this.hosts[di] !== s.host) return `${this.id(di)} is bound to host ${this.hosts[di]}, not ${s.host}`;
    return null;
  }

  /** Host binding and the fabric-manager rule, for every component a request reaches (target or hop). */
  private reach(s: PolicySubject, di: number, opcode: number, route: Route): void {
    const why = this.hostRefusal(s, di);
    if (why !== null) this.refuse(s, di, opcode, REFUSED_LEVEL, 0, why, route);
  }

  /** A component that forwards a tunnel must itself allow 5300h at the session's tier. */
  private forward(s: PolicySubject, di: number, route: Route): void {
    const t = this.tableOf(di);
    const need = t.level[TUNNEL]!;
    if (!this.permits(s, need)) this.refuse(s, di, TUNNEL, need, t.effects[TUNNEL]!, t.reason(TUNNEL), { path: route.path, tunnel: false });
  }

  /** The tier check on the component that runs `opcode`; write-class commands are audited. */
  private decide(s: PolicySubject, di: number, opcode: number, route: Route): AuditRecord | null {
    const t = this.tableOf(di);
    const need = t.level[opcode]!;
    if (!this.permits(s, need)) return this.refuse(s, di, opcode, need, t.effects[opcode]!, t.reason(opcode), route);
    if (need < TierLevel['debug-write']) return null;
    return this.allow(s, di, opcode, need, t, route);
  }

  /**
   * The one tier test: may session `s` send what needs level `need`? Never REFUSED_LEVEL; never above the
   * session's tier; fabric-destructive only on a mux created with gates.fabricDestructive.
   */
  private permits(s: PolicySubject, need: number): boolean {
    if (need === REFUSED_LEVEL || need > s.level) return false;
    return need !== TierLevel['fabric-destructive'] || this.opts.fabricDestructive;
  }

  private tableOf(di: number): PolicyTable {
    return this.tables[di] ?? this.unknownTable(di);
  }

  private id(di: number): string {
    return this.fleet.devices[di]!.id;
  }

  private unknownTable(di: number): PolicyTable {
    return this.tableCache.unknown(this.fleet.devices[di]!.kind === 'nvme' ? 'nvme' : 'cxl');
  }

  private allow(s: PolicySubject, di: number, opcode: number, need: number, t: PolicyTable, route: Route): AuditRecord {
    const r = this.record(s, di, opcode, need, t.protocol, t.effects[opcode]!, 'allowed', t.reason(opcode), route);
    this.audit.add(r);
    if (!this.tainted) {
      this.tainted = true;
      this.taintedBy = r;
    }
    return r;
  }

  private refuse(s: PolicySubject, di: number, opcode: number, need: number, effects: number, reason: string, route: Route): never {
    const t = this.tables[di];
    const r = this.record(s, di, opcode, need, t?.protocol ?? 'cxl', effects, 'refused', reason, route);
    this.audit.add(r);
    const d = this.fleet.devices[di]!;
    const path = route.path;
    const what = path === null ? `opcode ${hex4(opcode)} on ${d.id}`
      : route.tunnel ? `opcode ${hex4(opcode)} tunnelled to ${d.id} (${path.join(' -> ')})`
        : `opcode ${hex4(opcode)} on ${d.id} (${path.join(' -> ')})`;
    const needText = need === REFUSED_LEVEL ? 'no tier allows it' : `needs tier ${tierName(need)}`;
    const gate = need === TierLevel['fabric-destructive'] && !this.opts.fabricDestructive
      ? '; this mux was created without gates.fabricDestructive, so no session may send it' : '';
    throw new PermissionError(`${s.name} (tier ${s.tier}, host ${s.host}) may not send ${what}: ${needText} — ${reason}${r.effects.length ? ` [effects ${r.effects.join(', ')}]` : ''}${gate}`,
      { device: d.id, opcode, neededTier: tierName(need), sessionTier: s.tier, effects: r.effects, reason, ...(path ? { path: [...path] } : {}) });
  }

  private record(s: PolicySubject, di: number, opcode: number, need: number, protocol: 'cxl' | 'nvme', effects: number,
    decision: 'allowed' | 'refused', reason: string, route: Route): AuditRecord {
    const r: AuditRecord = {
      time: Date.now(), session: s.name, host: s.host, device: route.path !== null ? route.path[0]! : this.id(di), opcode,
      tier: tierName(need), sessionTier: s.tier, effects: describeEffects(protocol, effects), decision, reason,
    };
    if (route.path !== null) r.path = [...route.path];
    if (route.tunnel) {
      r.innerOpcode = opcode;
      r.opcode = TUNNEL;
    }
    return r;
  }
}
