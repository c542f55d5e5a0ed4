/**
 * NVMe Commands Supported and Effects entries (log 05h) and their bit names. Separate from commands.ts so
 * that the handler files can use the bits without an import cycle.
 */

/**
 * Commands Supported and Effects entry bits (NVMe Base 2.0 Figure 210; CSER from 2.1). SPDK marks bits
 * 15:5 reserved (pre-2.1); Linux and libnvme know CSER. Scope bit numbers follow SPDK and QEMU.
 */
export const Effects = {
  /** command supported */
  CSUPP: 1 << 0,
  /** logical block content change */
  LBCC: 1 << 1,
  /** namespace capability change */
  NCC: 1 << 2,
  /** namespace inventory change */
  NIC: 1 << 3,
  /** controller capability change */
  CCC: 1 << 4,
  /** CSER, bits 15:14 (2.1): command submission and execution relaxations */
  CSER_SHIFT: 14,
  /** CSE 18:16 = 001b: submit only when no other command to the same namespace is outstanding */
  CSE_SAME_NS: 1 << 16,
  /** CSE 18:16 = 010b: submit only when no other command to any namespace is outstanding */
  CSE_ANY_NS: 2 << 16,
  /** the command honours the UUID index in CDW14 */
  UUID_SEL: 1 << 19,
  // CSP, command scope 31:20
  SCOPE_NS: 1 << 20,
  SCOPE_CONTROLLER: 1 << 21,
  SCOPE_NVM_SET: 1 << 22,
  SCOPE_ENDURANCE_GROUP: 1 << 23,
  SCOPE_DOMAIN: 1 << 24,
  SCOPE_SUBSYSTEM: 1 << 25,
} as const;

/** Reserved bits: 13:5 and 31:26. */
export const EFFECTS_RESERVED_MASK = 0x00003fe0 | 0xfc000000;
export const CSE_MASK = 7 << 16;

const E = Effects;

const EFFECT_NAMES: [string, number][] = [
  ['CSUPP', E.CSUPP], ['LBCC', E.LBCC], ['NCC', E.NCC], ['NIC', E.NIC], ['CCC', E.CCC], ['UUID_SEL', E.UUID_SEL],
  ['SCOPE_NS', E.SCOPE_NS], ['SCOPE_CONTROLLER', E.SCOPE_CONTROLLER], ['SCOPE_NVM_SET', E.SCOPE_NVM_SET],
  ['SCOPE_ENDURANCE_GROUP', E.SCOPE_ENDURANCE_GROUP], ['SCOPE_DOMAIN', E.SCOPE_DOMAIN], ['SCOPE_SUBSYSTEM', E.SCOPE_SUBSYSTEM],
];

/** ['CSUPP', 'LBCC', 'CSE=010b'] for an effects entry (diagnostics and policy explanations). */
export function nvmeEffectNames(effects: number): string[] {
  const out = EFFECT_NAMES.filter(([, bit]) => (effects & bit) !== 0).map(([n]) => n);
  const cse = (effects >>> 16) & 7;
  if (cse !== 0) out.push(`CSE=${cse.toString(2).padStart(3, '0')}b`);
  const cser = (effects >>> E.CSER_SHIFT) & 3;
  if (cser !== 0) out.push(`CSER=${cser.toString(2).padStart(2, '0')}b`);
  if ((effects & EFFECTS_RESERVED_MASK) !== 0) out.push('RESERVED');
  return out;
}
