import { createWriteStream, type WriteStream } from 'node:fs';
import { effectNames } from '../devices/cci/effects.js';
import type { Tier } from './tiers.js';

export interface AuditRecord {
  /** when the request was checked (ms since the epoch; ISO text in JSON lines) */
  time: number;
  session: string;
  host: number;
  device: string;
  /** the command as sent, and for a tunnel the inner command that decided */
  opcode: number;
  innerOpcode?: number;
  path?: string[];
  /** tier the command needed, and the session's */
  tier: Tier | 'refused';
  sessionTier: Tier;
  effects: string[];
  decision: 'allowed' | 'refused';
  reason: string;
  /** device return code (filled when the command completes), or the error code if it failed */
  result?: number | string;
}

/**
 * Every write-class command (tier debug-write or higher) and every refusal, kept in memory (the newest
 * `limit` records) and optionally appended as JSON lines to a file.
 */
export class AuditLog {
  /** a ring of the newest `limit` records (an audited command costs O(1), however long the run) */
  private readonly ring: (AuditRecord | undefined)[];
  private next = 0;
  private stream: WriteStream | null = null;
  total = 0;

  constructor(limit = 10_000, file?: string) {
    this.ring = new Array<AuditRecord | undefined>(Math.max(1, limit));
    if (file !== undefined) this.stream = createWriteStream(file, { flags: 'a' });
  }

  add(r: AuditRecord): AuditRecord {
    this.total++;
    this.ring[this.next] = r;
    this.next = (this.next + 1) % this.ring.length;
    if (this.stream !== null && r.decision === 'refused') this.stream.write(line(r));
    return r;
  }

  /** Completes an allowed record with its result and writes it out. */
  finish(r: AuditRecord, result: number | string): void {
    r.result = result;
    if (this.stream !== null) this.stream.write(line(r));
  }

  /** The records kept in memory, oldest first. */
  list(): AuditRecord[] {
    const out: AuditRecord[] = [];
    for (let i = 0; i < this.ring.length; i++) {
      const r = this.ring[(this.next + i) % this.ring.length];
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  close(): Promise<void> {
    const s = this.stream;
    this.stream = null;
    return s === null ? Promise.resolve() : new Promise((resolve) => s.end(resolve));
  }
}

function line(r: AuditRecord): string {
  return `${JSON.stringify({ ...r, time: new Date(r.time).toISOString() })}\n`;
}

export function describeEffects(protocol: 'cxl' | 'nvme', effects: number): string[] {
  if (protocol === 'cxl') return effectNames(effects);
  const names: string[] = [];
  if (effects & 1) names.push('CSUPP');
  if (effects & 2) names.push('LBCC');
  if (effects & 4) names.push('NCC');
  if (effects & 8) names.push('NIC');
  if (effects & 16) names.push('CCC');
  if ((effects >>> 16) & 7) names.push(`CSE=${(effects >>> 16) & 7}`);
  return names;
}
