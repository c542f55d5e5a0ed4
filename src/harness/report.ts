import type { LoadResult } from './load.js';

const n = (x: number, d = 1): string => x.toFixed(d);

/** The final latency table of a load run. */
export function formatLoadTable(r: LoadResult): string {
  const l = r.latency;
  const errors = Object.entries(r.errors).map(([k, v]) => `${k}=${v}`).join(' ') || 'none';
  const status = Object.entries(r.deviceStatus).map(([k, v]) => `rc ${Number(k).toString(16)}h=${v}`).join(' ') || 'all Success';
  return [
    `mode ${r.mode}, ${r.concurrency} callers, ${n(r.durationMs / 1000, 2)} s, ${r.requests.toLocaleString('en-US')} requests`,
    '',
    'latency (µs)    p50      p90      p99    p99.9      max     mean',
    `             ${[l.p50, l.p90, l.p99, l.p999, l.max, l.mean].map((x) => n(x).padStart(8)).join(' ')}`,
    '',
    `throughput   ${Math.round(r.throughput).toLocaleString('en-US')} requests/s`,
    `errors       ${errors}`,
    `device rc    ${status}`,
    `commands     ${Object.entries(r.byCommand).map(([k, v]) => `${k}=${v}`).join(' ')}`,
  ].join('\n');
}
