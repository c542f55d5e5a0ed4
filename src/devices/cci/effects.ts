/**
 * Command Effects Log effect bits, numbered as in the CXL spec text (r3.1 8.2.9.5.2.1 Table 8-75).
 * QEMU's headers shift bits 7..12 by one position and Linux names bit 7 differently; we follow the spec text.
 */
export const Effect = {
  CONFIG_CHANGE_COLD_RESET: 1 << 0,
  IMMEDIATE_CONFIG_CHANGE: 1 << 1,
  IMMEDIATE_DATA_CHANGE: 1 << 2,
  IMMEDIATE_POLICY_CHANGE: 1 << 3,
  IMMEDIATE_LOG_CHANGE: 1 << 4,
  SECURITY_STATE_CHANGE: 1 << 5,
  BACKGROUND_OP: 1 << 6,
  SECONDARY_MAILBOX_SUPPORTED: 1 << 7,
  REQUEST_ABORT_SUPPORTED: 1 << 8,
  /** bits 11:10 are valid */
  CONVENTIONAL_CXL_RESET_VALID: 1 << 9,
  CONFIG_CHANGE_CONVENTIONAL_RESET: 1 << 10,
  CONFIG_CHANGE_CXL_RESET: 1 << 11,
} as const;

export const EFFECTS_RESERVED_MASK = 0xf000;

/** Effects that change the device immediately (Linux features.c treats these as needing full write scope). */
export const IMMEDIATE_EFFECTS =
  Effect.IMMEDIATE_CONFIG_CHANGE | Effect.IMMEDIATE_DATA_CHANGE | Effect.IMMEDIATE_POLICY_CHANGE | Effect.IMMEDIATE_LOG_CHANGE;

/** Effects that only take hold after some reset. */
export const RESET_EFFECTS =
  Effect.CONFIG_CHANGE_COLD_RESET | Effect.CONFIG_CHANGE_CONVENTIONAL_RESET | Effect.CONFIG_CHANGE_CXL_RESET;

const EFFECT_NAMES = Object.entries(Effect) as [string, number][];

/** ['IMMEDIATE_DATA_CHANGE', 'BACKGROUND_OP'] for a bit mask; reserved bits appear as RESERVED_15_12. */
export function effectNames(effects: number): string[] {
  const out = EFFECT_NAMES.filter(([, bit]) => (effects & bit) !== 0).map(([n]) => n);
  if (effects & EFFECTS_RESERVED_MASK) out.push('RESERVED_15_12');
  return out;
}
