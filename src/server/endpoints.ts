import { BadRequestError } from '../errors.js';

/** Where a server listens: a Unix socket path, or a TCP port and address. `token` overrides the client's. */
export type FleetEndpoint =
  | { path: string; token?: string }
  | { port: number; address?: string; token?: string };

/**
 * Parses one endpoint: `unix:/run/mbxmux.sock` (or a plain absolute path), `tcp://host:port` (or `host:port`;
 * an IPv6 address in brackets, `tcp://[::1]:7070`).
 */
export function parseEndpoint(text: string): FleetEndpoint {
  const t = text.trim();
  const unix = /^unix:(.+)$/.exec(t)?.[1] ?? (t.startsWith('/') ? t : undefined);
  if (unix !== undefined) return { path: unix };
  const m = /^(?:tcp:\/\/)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(t);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || !(port >= 1 && port <= 65535)) {
    throw new BadRequestError(`bad endpoint "${text}": use unix:/path/to/socket or tcp://host:port (port 1 to 65535)`);
  }
  return { port, address: m[1]!.replace(/^\[(.*)\]$/, '$1') };
}

/** Parses a comma-separated list of endpoints (`--target unix:/a.sock,tcp://10.0.0.5:7070`). */
export function parseEndpoints(text: string): FleetEndpoint[] {
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) throw new BadRequestError('no endpoint given: use unix:/path/to/socket or tcp://host:port, comma-separated');
  return parts.map(parseEndpoint);
}

/** The endpoint as users write it: `unix:/path` or `tcp://host:port`. */
export function endpointName(e: FleetEndpoint): string {
  if ('path' in e) return `unix:${e.path}`;
  const a = e.address ?? '127.0.0.1';
  return `tcp://${a.includes(':') ? `[${a}]` : a}:${e.port}`;
}
