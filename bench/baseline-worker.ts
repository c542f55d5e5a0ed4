/**
 * Worker side of the two baselines: one command per message.
 * - piscina: the default export is the task (piscina.run per command).
 * - postMessage: when started as a plain Worker with workerData.mode === 'post', answer each message.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { BaselineDevices } from './device-work.js';

interface Msg {
  id: number;
  device: number;
  opcode: number;
}

const devices = new BaselineDevices(1024);

export default function task(m: Msg): { id: number; rc: number; payload: Uint8Array } {
  const r = devices.execute(m.device, m.opcode, null);
  return { id: m.id, rc: r.rc, payload: r.payload };
}

if (!isMainThread && (workerData as { mode?: string } | null)?.mode === 'post') {
  parentPort!.on('message', (m: Msg) => parentPort!.postMessage(task(m)));
}
