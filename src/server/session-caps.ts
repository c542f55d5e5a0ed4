import { PermissionError } from '../errors.js';
import { parseTier, type Tier, TierLevel } from '../policy/tiers.js';

/**
 * What a remote client may ask for: the operator's settings on the server, or those of the client's token.
 * A client's hello is capped by them (the tier) or refused (a host outside the allowed list). The mux still
 * checks every request against the session's tier: capping only decides which tier the session gets.
 */
export interface SessionCaps {
  /** the highest tier a remote session gets (default debug-read) */
  maxTier?: Tier;
  /** whether a client may ask for a fabric-manager session (default false: the request is ignored) */
  allowFabricManager?: boolean;
  /** host ids a client may act for (default: any host); a hello without host gets the first */
  allowedHosts?: readonly number[];
}

export interface SessionGrant {
  tier: Tier;
  requestedTier: Tier;
  host: number;
  fabricManager: boolean;
  /** what was lowered, for the log */
  notes: string[];
}

/** The lower of two tiers. */
export function minTier(a: Tier, b: Tier): Tier {
  return TierLevel[a] <= TierLevel[b] ? a : b;
}

/**
 * Applies the caps to a client's request: tier = min(requested, maxTier); fabricManager only if allowed;
 * host = the requested one if allowed (else PermissionError), or the first allowed host (else 0).
 */
export function grantSession(caps: SessionCaps, req: { tier?: Tier | undefined; host?: number | undefined; fabricManager?: boolean | undefined }): SessionGrant {
  const maxTier = parseTier(caps.maxTier ?? 'debug-read');
  const requestedTier = parseTier(req.tier ?? 'debug-read');
  const host = req.host ?? caps.allowedHosts?.[0] ?? 0;
  const notes: string[] = [];
  if (caps.allowedHosts !== undefined && !caps.allowedHosts.includes(host)) {
    throw new PermissionError(`host ${host} is not served here (allowed hosts: ${caps.allowedHosts.join(', ') || 'none'})`, { host });
  }
  const tier = minTier(requestedTier, maxTier);
  if (tier !== requestedTier) notes.push(`tier ${requestedTier} capped to ${tier}`);
  const fabricManager = req.fabricManager === true && caps.allowFabricManager === true;
  if (req.fabricManager === true && !fabricManager) notes.push('fabric-manager session refused (not allowed for this client)');
  return { tier, requestedTier, host, fabricManager, notes };
}
