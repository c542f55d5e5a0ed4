import { BadRequestError } from '../errors.js';

/**
 * Permission tiers, lowest first. The first four are Linux fwctl's RPC scopes
 * (include/uapi/fwctl/fwctl.h: CONFIGURATION 0, DEBUG_READ_ONLY 1, DEBUG_WRITE 2, DEBUG_WRITE_FULL 3);
 * `fabric-destructive` is ours, for commands that can hurt OTHER hosts, and sits behind a mux gate.
 */
export const TIERS = ['configuration', 'debug-read', 'debug-write', 'debug-write-full', 'fabric-destructive'] as const;
export type Tier = (typeof TIERS)[number];

export const TierLevel = {
  configuration: 0,
  'debug-read': 1,
  'debug-write': 2,
  'debug-write-full': 3,
  'fabric-destructive': 4,
} as const satisfies Record<Tier, number>;

/** A level no session can reach: opcodes the device does not declare. */
export const REFUSED_LEVEL = 255;

export function tierName(level: number): Tier | 'refused' {
  return TIERS[level] ?? 'refused';
}

export function parseTier(value: unknown): Tier {
  if (typeof value === 'string' && (TIERS as readonly string[]).includes(value)) return value as Tier;
  throw new BadRequestError(`unknown tier ${JSON.stringify(value)}: use one of ${TIERS.join(', ')}`, { tier: value });
}
