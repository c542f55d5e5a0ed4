import type { FleetInput } from '../fleet/types.js';
import type { SendRequest } from '../mux/types.js';
import type { Tier } from '../policy/tiers.js';
import type { ResFrame } from './frames.js';

/** The records of a recording file (format in recorder.ts), shared by the recorder, its checks and replay. */

export const RECORDING_FORMAT = 'mbxmux-recording';
export const RECORDING_VERSION = 1;

export interface RecordingHeader {
  t: 'header';
  format: typeof RECORDING_FORMAT;
  version: number;
  created: string;
  fleet: FleetInput | null;
  workers: number | null;
  devices: number | null;
  node: string;
}

export interface RecordedSession {
  t: 'session';
  name: string;
  tier: Tier;
  host: number;
  fabricManager: boolean;
  at: number;
}

/** A recorded answer: the fields of a socket `res` frame (src/server/frames.ts) without its type and id. */
export type RecordedResult = Omit<ResFrame, 'type' | 'id'>;

export interface RecordedRequest extends Omit<SendRequest, 'signal'> {
  t: 'req';
  seq: number;
  id: number;
  session: string;
  /** ms since the recorder started */
  start: number;
  latencyUs: number;
  result?: RecordedResult;
  error?: { code: string; message: string };
}

export interface RecordedRefusal {
  t: 'refused';
  session: string;
  device: string;
  opcode?: number;
  neededTier?: string;
  code: string;
  message: string;
  at: number;
}

export interface RecordingEnd {
  t: 'end';
  records: number;
  refused: number;
  at: number;
}

export interface Recording {
  header: RecordingHeader;
  sessions: RecordedSession[];
  requests: RecordedRequest[];
  refused: RecordedRefusal[];
  /** the end record, or null if the recording stopped without one (killed recorder) */
  end: RecordingEnd | null;
  /** bytes at the end of the file that do not form a whole frame (a write cut short) */
  truncatedBytes: number;
}
