import { BadRequestError, PermissionError } from '../errors.js';
import { tunnelHop } from '../fleet/tunnel-hop.js';
import type { Fleet } from '../fleet/types.js';
import { AuditLog, type AuditRecord, describeEffects } from './audit.js';
import { type PolicyTable, unknownEffectsTable } from './policy-table.js';
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
}

const TUNNEL = 0x5300;
const hex4 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

/**
 * The permission check run on every request before it reaches a ring. Tables come from each device's own
 * effects log (read at enumeration); hosts come from the fleet's bindings. A refused request throws
 * PermissionError naming the tier it needed and the effects that required it, and never reaches the device.
 */
export class Policy {
  readonly audit: AuditLog;
  tainted = false;
  taintedBy: AuditRecord | null = null;
  private readonly tables: (PolicyTable | undefined)[];
  private readonly hosts: Uint16Array;
  private readonly isMld: Uint8Array;

  constructor(private readonly fleet: Fleet, private readonly opts: PolicyOptions) {
    const n = fleet.devices.length;
    this.tables = new Array<PolicyTable | undefined>(n).fill(undefined);
    this.hosts = new Uint16Array(n);
    this.isMld = new Uint8Array(n);
    for (const d of fleet.devices) {
      this.hosts[d.index] = d.host;
      this.isMld[d.index] = d.kind === 'cxl-mld' ? 1 : 0;
    }
    this.audit = new AuditLog(opts.auditLimit, opts.auditFile);
  }

  setTable(index: number, table: PolicyTable): void {
    this.tables[index] = table;
  }

  table(index: number): PolicyTable | undefined {
    return this.tables[index];
  }

  /**
   * Checks one request. Returns null for read-class commands, or the audit record of an allowed
   * write-class command (complete it with audit.finish when the answer arrives). Throws PermissionError or,
   * for a malformed tunnel, BadRequestError.
   */
  check(s: PolicySubject, di: number, opcode: number, payload: Uint8Array | null): AuditRecord | null {
    const t = this.tables[di] ?? this.unknownTable(di);
    const other = this.hostRefusal(s, di);
    if (other !== null) return this.refuse(s, di, opcode, REFUSED_LEVEL, 0, other, null);
    let need = t.level[opcode]!;
    if (opcode === TUNNEL && t.protocol === 'cxl' && need <= s.level) return this.checkTunnel(s, di, payload);
    if (need === REFUSED_LEVEL || need > s.level || (need === TierLevel['fabric-destructive'] && !this.opts.fabricDestructive)) {
      return this.refuse(s, di, opcode, need, t.effects[opcode]!, t.reason(opcode), null);
    }
    if (need < TierLevel['debug-write']) return null;
    return this.allow(s, di, opcode, need, t, null);
  }

  /** Why `s` may not address device `di` at all (it is bound to another host), or null. Checks nothing else. */
  hostRefusal(s: Pick<PolicySubject, 'host' | 'fabricManager'>, di: number): string | null {
    if (s.fabricManager || this.isMld[di] === 1 || this.hosts[di] === s.host) return null;
    return `the device is bound to host ${this.hosts[di]}, not ${s.host}`;
  }

  private checkTunnel(s: PolicySubject, di: number, payload: Uint8Array | null): AuditRecord | null {
    const dec = this.opts.decodeTunnel(payload ?? new Uint8Array(0));
    const outer = this.fleet.devices[di]!;
    if ('error' in dec) throw new BadRequestError(`malformed tunnel request to ${outer.id}: ${dec.error}`, { device: outer.id });
    const path = [outer.id];
    let cur = di;
    for (let i = 0; i < dec.hops.length; i++) {
      const hop = dec.hops[i]!;
      if (i > 0) {
        // an intermediate component forwards a tunnel: it must declare 5300 too
        const mid = this.tables[cur] ?? this.unknownTable(cur);
        const lvl = mid.level[TUNNEL]!;
        if (lvl === REFUSED_LEVEL || lvl > s.level) return this.refuse(s, cur, TUNNEL, lvl, mid.effects[TUNNEL]!, mid.reason(TUNNEL), path);
      }
      const next = tunnelHop(this.fleet, cur, hop.portOrLd, hop.targetType);
      if (next < 0) {
        throw new BadRequestError(`tunnel path ${path.join(' -> ')}: ${this.fleet.devices[cur]!.id} has no component at ${this.fleet.devices[cur]!.kind === 'cxl-switch' ? 'port' : 'LD'} ${hop.portOrLd}`,
          { device: outer.id, path });
      }
      const nd = this.fleet.devices[next]!;
      path.push(nd.id);
      if (!s.fabricManager) {
        if (this.isMld[next] === 1) return this.refuse(s, next, dec.opcode, REFUSED_LEVEL, 0, `${nd.id} is an MLD's FM-owned LD: only fabric-manager sessions may reach it`, path);
        if (this.hosts[next] !== s.host) return this.refuse(s, next, dec.opcode, REFUSED_LEVEL, 0, `${nd.id} is bound to host ${this.hosts[next]}, not ${s.host}`, path);
      }
      cur = next;
    }
    const target = this.tables[cur] ?? this.unknownTable(cur);
    const need = target.level[dec.opcode]!;
    if (need === REFUSED_LEVEL || need > s.level || (need === TierLevel['fabric-destructive'] && !this.opts.fabricDestructive)) {
      return this.refuse(s, cur, dec.opcode, need, target.effects[dec.opcode]!, target.reason(dec.opcode), path);
    }
    if (need < TierLevel['debug-write']) return null;
    return this.allow(s, cur, dec.opcode, need, target, path);
  }

  private unknownTable(di: number): PolicyTable {
    return unknownEffectsTable(this.fleet.devices[di]!.kind === 'nvme' ? 'nvme' : 'cxl');
  }

  private allow(s: PolicySubject, di: number, opcode: number, need: number, t: PolicyTable, path: string[] | null): AuditRecord {
    const r = this.record(s, di, opcode, need, t.protocol, t.effects[opcode]!, 'allowed', t.reason(opcode), path);
    this.audit.add(r);
    if (!this.tainted) {
      this.tainted = true;
      this.taintedBy = r;
    }
    return r;
  }

  private refuse(s: PolicySubject, di: number, opcode: number, need: number, effects: number, reason: string, path: string[] | null): never {
    const t = this.tables[di];
    const r = this.record(s, di, opcode, need, t?.protocol ?? 'cxl', effects, 'refused', reason, path);
    this.audit.add(r);
    const d = this.fleet.devices[di]!;
    const what = path ? `opcode ${hex4(opcode)} tunnelled to ${d.id} (${path.join(' -> ')})` : `opcode ${hex4(opcode)} on ${d.id}`;
    const needText = need === REFUSED_LEVEL ? 'no tier allows it' : `needs tier ${tierName(need)}`;
    const gate = need === TierLevel['fabric-destructive'] && !this.opts.fabricDestructive
      ? '; this mux was created without gates.fabricDestructive, so no session may send it' : '';
    throw new PermissionError(`${s.name} (tier ${s.tier}, host ${s.host}) may not send ${what}: ${needText} — ${reason}${r.effects.length ? ` [effects ${r.effects.join(', ')}]` : ''}${gate}`,
      { device: d.id, opcode, neededTier: tierName(need), sessionTier: s.tier, effects: r.effects, reason, ...(path ? { path } : {}) });
  }

  private record(s: PolicySubject, di: number, opcode: number, need: number, protocol: 'cxl' | 'nvme', effects: number,
    decision: 'allowed' | 'refused', reason: string, path: string[] | null): AuditRecord {
    const r: AuditRecord = {
      time: Date.now(), session: s.name, host: s.host, device: path !== null ? path[0]! : this.fleet.devices[di]!.id, opcode,
      tier: tierName(need), sessionTier: s.tier, effects: describeEffects(protocol, effects), decision, reason,
    };
    if (path !== null) {
      r.path = path;
      r.innerOpcode = opcode;
      r.opcode = TUNNEL;
    }
    return r;
  }
}
