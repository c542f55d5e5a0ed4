/**
 * Decoded structures as plain text: one "name  value" line per field (camelCase keys as words), nested
 * objects indented under their name, lists of scalars on one line, and lists of records (port states,
 * effects log entries) as aligned tables.
 */

type Scalar = string | number | boolean | null | undefined;

const words = (key: string): string => key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2').toLowerCase();

function scalar(v: Scalar): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v);
}

const isScalar = (v: unknown): v is Scalar => v === null || v === undefined || ['string', 'number', 'boolean'].includes(typeof v);
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A record's fields as cells: nested lists of scalars joined, nested records as key=value. */
function cell(v: unknown): string {
  if (isScalar(v)) return scalar(v);
  if (Array.isArray(v)) return v.every(isScalar) ? (v.length ? v.map(scalar).join(', ') : '-') : JSON.stringify(v);
  return Object.entries(v as object).map(([k, x]) => `${k}=${cell(x)}`).join(' ');
}

export function table(rows: Record<string, unknown>[], indent = ''): string[] {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = [keys.map(words), ...rows.map((r) => keys.map((k) => cell(r[k])))];
  const width = keys.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells.map((c) => indent + c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(width[i]!))).join('  ').trimEnd());
}

/** Lines for a decoded value. */
export function formatFields(value: unknown, indent = ''): string[] {
  if (!isRecord(value)) return [indent + cell(value)];
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  const width = Math.max(0, ...entries.filter(([, v]) => !isRecord(v) && !(Array.isArray(v) && v.some(isRecord))).map(([k]) => words(k).length));
  const out: string[] = [];
  for (const [k, v] of entries) {
    if (isRecord(v)) {
      out.push(`${indent}${words(k)}`, ...formatFields(v, `${indent}  `));
    } else if (Array.isArray(v) && v.some(isRecord)) {
      out.push(`${indent}${words(k)} (${v.length})`, ...(v.length ? table(v as Record<string, unknown>[], `${indent}  `) : []));
    } else {
      out.push(`${indent}${words(k).padEnd(width)}  ${cell(v)}`);
    }
  }
  return out;
}
