import { ProtocolError } from '../errors.js';
import { intOption, TIMER_MAX_MS } from '../validate.js';
import type { FleetInput } from '../fleet/types.js';
import type { RecordedRequest, Recording } from './recording-types.js';

/**
 * A recording is data from a file: nothing in it is trusted. Before a replay every record replay uses is
 * checked for the types and ranges replay relies on, and a failure is one line naming the record, e.g.
 * "record req #12 (seq 11): has neither result nor error". What replay does not need is not checked.
 */

/** most distinct sessions a recording may name (each becomes a mux session on replay) */
export const MAX_RECORDED_SESSIONS = 65_536;
const DWORDS = ['nsid', 'cdw10', 'cdw11', 'cdw12', 'cdw13', 'cdw14', 'cdw15', 'mctpType', 'timeoutMs'] as const;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
const finiteIn = (v: unknown, lo: number, hi: number): v is number => typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi;

/**
 * The header's fleet when it is inline (an object), null when absent; a string would be taken for a fleet
 * file path, and a recording must never make replay read another file: ProtocolError.
 */
export function inlineFleet(rec: Recording, file = 'the recording'): FleetInput | null {
  const f = (rec.header as unknown as Record<string, unknown>).fleet;
  if (f === null || f === undefined) return null;
  if (!isObj(f)) throw new ProtocolError(`${file}: the header's fleet must be inline (a fleet object), got ${typeof f === 'string' ? 'a path' : typeof f}; give the fleet with --fleet`);
  return f as unknown as FleetInput;
}

/** Throws ProtocolError (one line) for the first record replay cannot use. */
export function checkRecording(rec: Recording, file = 'the recording'): void {
  const h = rec.header as unknown;
  if (!isObj(h)) throw new ProtocolError(`${file} has no header record`);
  if (h.workers !== null && h.workers !== undefined) {
    try {
      intOption(h.workers, 'the header\'s workers', 1, 1024, 1); // a hint: replay runs min(it, cores)
    } catch (e) {
      throw new ProtocolError(`${file}: ${(e as Error).message}`);
    }
  }
  if (!Array.isArray(rec.requests)) throw new ProtocolError(`${file}: requests must be an array`);
  const sessions = new Set<string>();
  rec.requests.forEach((r, i) => {
    checkRequest(r, `${file}: record req #${i}${isObj(r) && typeof r.seq === 'number' ? ` (seq ${r.seq})` : ''}`);
    sessions.add(r.session);
  });
  if (sessions.size > MAX_RECORDED_SESSIONS) throw new ProtocolError(`${file} names ${sessions.size} sessions; replay opens at most ${MAX_RECORDED_SESSIONS}`);
}

function checkRequest(r: RecordedRequest, at: string): void {
  const bad = (what: string): never => {
    throw new ProtocolError(`${at}: ${what}`);
  };
  if (!isObj(r)) bad('is not a map');
  const q = r as unknown as Record<string, unknown>;
  if (!Number.isSafeInteger(q.id) || (q.id as number) < 0) bad('id must be a non-negative integer');
  if (!Number.isSafeInteger(q.seq) || (q.seq as number) < 0) bad('seq must be a non-negative integer');
  if (typeof q.session !== 'string' || q.session.length > 1024) bad('session must be a string of at most 1024 characters');
  if (typeof q.device !== 'string' || q.device.length > 64) bad('device must be a string of at most 64 characters');
  if (!Number.isInteger(q.opcode) || (q.opcode as number) < 0 || (q.opcode as number) > 0xffff) bad('opcode must be an integer from 0 to 0xffff');
  // times order the replay: NaN or negative ones could make a request wait for itself
  if (!finiteIn(q.start, 0, TIMER_MAX_MS)) bad(`start must be a number of ms from 0 to ${TIMER_MAX_MS}`);
  if (!finiteIn(q.latencyUs, 0, TIMER_MAX_MS * 1000)) bad('latencyUs must be a non-negative number');
  for (const k of ['payload', 'data'] as const) if (q[k] !== undefined && !(q[k] instanceof Uint8Array)) bad(`${k} must be binary`);
  for (const k of DWORDS) if (q[k] !== undefined && !finiteIn(q[k], 0, 2 ** 53)) bad(`${k} must be a non-negative number`);
  if (q.tunnel !== undefined && (!Array.isArray(q.tunnel) || q.tunnel.length > 16 || !q.tunnel.every((x) => Number.isInteger(x)))) bad('tunnel must be an array of integers');
  if ((q.result === undefined) === (q.error === undefined)) bad(q.result === undefined ? 'has neither result nor error' : 'has both result and error');
  if (q.error !== undefined) {
    if (!isObj(q.error) || typeof q.error.code !== 'string') bad('error must be a map with a string code');
    return;
  }
  const res = q.result;
  if (!isObj(res)) return bad('result must be a map');
  if (!Number.isInteger(res.rc)) bad('result.rc must be an integer');
  if (res.payload !== undefined && !(res.payload instanceof Uint8Array)) bad('result.payload must be binary');
  if (res.vendorStatus !== undefined && !Number.isInteger(res.vendorStatus)) bad('result.vendorStatus must be an integer');
  if (res.cqe !== undefined && !(res.cqe instanceof Uint8Array && res.cqe.byteLength === 16)) bad('result.cqe must be 16 bytes');
  if (res.tunnel !== undefined) {
    const t = res.tunnel;
    if (!isObj(t) || !Number.isInteger(t.failedAt) || !Array.isArray(t.hops) || !t.hops.every((x) => isObj(x) && Number.isInteger(x.rc))) {
      bad('result.tunnel must be { failedAt, hops: [{ rc }] }');
    }
  }
}
