import { TierLevel } from '../policy/tiers.js';

/**
 * MCP-style behaviour hints for one command, decided from the tier its target's effects log gives it (the
 * policy derives that tier from the log: src/policy/rules.ts):
 *
 *   readOnlyHint     the tier is configuration or debug-read: the log declares no change of any kind
 *   destructiveHint  the tier is debug-write-full or fabric-destructive: an immediate change of data,
 *                    configuration, policy, logs, security state, namespaces or controller (or of another
 *                    host's view of the fabric); debug-write commands (changes after a reset, background
 *                    operations, host-to-controller data such as Set Features, NVMe queue management) are
 *                    neither read-only nor destructive
 *   idempotentHint   read-only commands only: the log cannot say whether a write may be repeated safely
 *
 * A command the log does not declare gets the worst case (not read-only, destructive). The hints are only as
 * honest as the device's log, as the tier is; commands known to hurt other hosts are fabric-destructive
 * whatever a device reports.
 */
export interface CommandHints {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
}

export function hintsForTier(tier: string): CommandHints {
  const level = (TierLevel as Record<string, number>)[tier];
  if (level === undefined) return { readOnlyHint: false, destructiveHint: true, idempotentHint: false };
  const readOnly = level <= TierLevel['debug-read'];
  return { readOnlyHint: readOnly, destructiveHint: level >= TierLevel['debug-write-full'], idempotentHint: readOnly };
}
