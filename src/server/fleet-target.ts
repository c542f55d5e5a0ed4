import { BadRequestError } from '../errors.js';
import type { LoadSession, LoadTarget } from '../harness/types.js';
import type { MixDescriptor } from '../harness/mix.js';
import type { DeviceInfo } from '../mux/types.js';
import { TierLevel, type Tier } from '../policy/tiers.js';
import type { FleetClient } from './fleet-client.js';

/**
 * The load harness's target over remote servers (`mbxmux load --target`): the fleet is what the servers
 * serve, in the order of the whole fleet (so every generator, and an in-process run of the unsliced fleet,
 * builds the same schedule from the same seed), and a session is the sessions the servers granted.
 */
export function fleetLoadTarget(client: FleetClient): LoadTarget & { session: RemoteSession } {
  const session = grantedSession(client);
  const devices = descriptorsOf(client.devices());
  return {
    fleet: { devices },
    session,
    openSession(opts): LoadSession {
      if (opts.host !== session.host || opts.fabricManager !== session.fabricManager) {
        throw new BadRequestError(`the servers granted ${describe(session)}, but the run asks for ${describe(opts)}: `
          + 'run the load with the session the servers grant (mbxmux load --target does), or ask the servers for it');
      }
      return { send: (req) => client.send(req), close: () => {} };
    },
  };
}

/** The session every server granted; the tier is the lowest of them. */
export interface RemoteSession {
  tier: Tier;
  host: number;
  fabricManager: boolean;
}

const describe = (s: { host: number; fabricManager: boolean }): string => (s.fabricManager ? 'a fabric-manager session' : `a session for host ${s.host}`);

function grantedSession(client: FleetClient): RemoteSession {
  const servers = client.servers();
  const first = servers[0]!;
  for (const s of servers) {
    if (s.host !== first.host || s.fabricManager !== first.fabricManager) {
      throw new BadRequestError(`the servers granted different sessions: ${servers.map((x) => `${x.endpoint} ${describe(x)}`).join(', ')}; `
        + 'give --host N (or tokens with the same rights on every server)');
    }
  }
  const tier = servers.reduce<Tier>((t, s) => (TierLevel[s.tier] < TierLevel[t] ? s.tier : t), first.tier);
  return { tier, host: first.host, fabricManager: first.fabricManager };
}

/** Descriptors with the topology the mix needs, built from the servers' device lists. */
function descriptorsOf(infos: readonly DeviceInfo[]): MixDescriptor[] {
  const at = new Map(infos.map((d, i) => [d.id, i]));
  const index = (id: string, from: string): number => {
    const i = at.get(id);
    if (i === undefined) throw new BadRequestError(`${from} refers to ${id}, which no server serves: are the servers slices of one fleet?`);
    return i;
  };
  return infos.map((d) => {
    const out: MixDescriptor = { id: d.id, kind: d.kind, host: d.host, mailboxBytes: d.mailboxBytes };
    if (d.reachableVia !== undefined || d.kind === 'cxl-mld') out.tunnelOnly = d.reachableVia ?? true;
    if (d.downstream !== undefined) out.switchInfo = { ports: d.ports ?? 0, downstream: d.downstream.map((p) => ({ port: p.port, target: index(p.device, d.id) })) };
    if (d.fronts !== undefined) out.mctp = { fronts: index(d.fronts, d.id) };
    if (d.namespaces !== undefined) out.nvme = { namespaces: d.namespaces };
    return out;
  });
}
