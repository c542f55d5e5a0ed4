import { BadRequestError } from '../errors.js';

/**
 * A catalog of command names for one command-set family: every name maps to exactly one command (opcode
 * plus the NVMe fields a name fixes, such as Identify's CNS). Names compare without case, spaces or
 * punctuation ("Get Health Info" = "get-health-info" = "GET_HEALTH_INFO"). A catalog whose names collide
 * after that normalisation is refused when it is built, so a name can never mean two commands.
 *
 * Lookup: an exact name first; otherwise a unique prefix ("get-health" -> Get Health Info). A prefix
 * shared by different commands is refused, naming every candidate.
 */

/** NVMe command fields a named command fixes. */
export interface NamedFields {
  nsid?: number;
  cdw10?: number;
  cdw11?: number;
}

export interface KnownCommand {
  name: string;
  opcode: number;
  fields?: NamedFields;
}

/** Lower-case letters and digits only: the form names are compared in. */
export function normName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/**
 * The hyphenated form used on command lines and in completions: "SMART / Health Information" ->
 * "smart-health-information", "Create I/O Completion Queue" -> "create-io-completion-queue".
 */
export function slug(name: string): string {
  return name.toLowerCase().replace(/([a-z0-9])\/([a-z0-9])/g, '$1$2').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** Two entries name the same command when opcode and fixed fields agree. */
function identity(c: KnownCommand): string {
  const f = c.fields;
  return f === undefined ? `${c.opcode}` : `${c.opcode}:${f.nsid ?? ''}:${f.cdw10 ?? ''}:${f.cdw11 ?? ''}`;
}

export const opcodeHex = (op: number, nvme: boolean): string => `0x${op.toString(16).padStart(nvme ? 2 : 4, '0')}`;

export class CommandCatalog {
  private readonly byKey = new Map<string, KnownCommand>();
  /** normalised keys, sorted, for prefix lookups */
  private readonly keys: string[];
  /** identity -> the first entry listed for it (table names come before aliases) */
  private readonly canonical = new Map<string, KnownCommand>();

  constructor(readonly family: string, readonly list: readonly KnownCommand[], private readonly nvme = false) {
    for (const c of list) {
      const key = normName(c.name);
      if (key === '') throw new Error(`${family}: command 0x${c.opcode.toString(16)} has an empty name`);
      const prev = this.byKey.get(key);
      if (prev !== undefined && identity(prev) !== identity(c)) {
        throw new Error(`${family}: the name "${c.name}" (${this.label(c)}) collides with "${prev.name}" (${this.label(prev)}); `
          + 'command names must be unambiguous per device kind');
      }
      if (prev === undefined) this.byKey.set(key, c);
      if (!this.canonical.has(identity(c))) this.canonical.set(identity(c), c);
    }
    this.keys = [...this.byKey.keys()].sort();
  }

  private label(c: KnownCommand): string {
    const f = c.fields?.cdw10;
    return `${opcodeHex(c.opcode, this.nvme)}${f !== undefined ? ` cdw10 0x${f.toString(16)}` : ''}`;
  }

  /**
   * The command `text` names. Throws BadRequestError naming the candidates when a prefix fits several
   * commands, or the closest names when none fits.
   */
  lookup(text: string): KnownCommand {
    const key = normName(text);
    const exact = this.byKey.get(key);
    if (exact !== undefined) return this.canonical.get(identity(exact))!;
    const hits = key === '' ? [] : this.keys.filter((k) => k.startsWith(key)).map((k) => this.byKey.get(k)!);
    const distinct = new Map(hits.map((c) => [identity(c), c]));
    if (distinct.size === 1) return this.canonical.get(identity(hits[0]!))!;
    if (distinct.size > 1) {
      const candidates = [...distinct.keys()].map((id) => this.canonical.get(id)!).sort((a, b) => a.opcode - b.opcode || (a.fields?.cdw10 ?? 0) - (b.fields?.cdw10 ?? 0));
      throw new BadRequestError(`"${text}" is ambiguous for ${this.family}: it could be ${candidates.map((c) => `${c.name} (${this.label(c)})`).join(', ')}; `
        + 'give more of the name or the opcode', { command: text, family: this.family, candidates: candidates.map((c) => c.name) });
    }
    const close = this.closest(text);
    const asHex = /^[0-9a-f]+$/i.test(text.trim()) ? `; an opcode is written 0x${text.trim()}` : '';
    throw new BadRequestError(`no ${this.family} command is named ${JSON.stringify(text)}${close.length ? `; did you mean ${close.map((n) => JSON.stringify(n)).join(', ')}?` : ''}`
      + `${asHex} (mbxmux effects DEVICE lists a device's commands)`, { command: text, family: this.family });
  }

  /** Up to 5 names sharing the most words with `text` (a word matches a name word it starts). */
  private closest(text: string): string[] {
    const words = text.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w.length > 2);
    const scored = this.list.map((c, i) => {
      const own = c.name.toLowerCase().split(/[^a-z0-9]+/);
      return { name: c.name, i, score: words.filter((w) => own.some((o) => o.startsWith(w))).length };
    }).filter((x) => x.score > 0);
    scored.sort((a, b) => b.score - a.score || a.i - b.i);
    return [...new Set(scored.map((x) => x.name))].slice(0, 5);
  }

  /** The first name listed for this opcode (table names come before aliases), or undefined. */
  nameOf(opcode: number): string | undefined {
    return this.list.find((c) => c.opcode === opcode && c.fields === undefined)?.name;
  }

  /** Every name as a slug, once each. */
  slugs(): string[] {
    return [...new Set(this.list.map((c) => slug(c.name)))];
  }
}
