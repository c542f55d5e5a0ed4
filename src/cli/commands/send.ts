import { rcName } from '../../devices/cci/return-codes.js';
import { describeStatus } from '../../devices/nvme/status.js';
import { createMux } from '../../mux/mux.js';
import type { SendRequest } from '../../mux/types.js';
import { parseTier } from '../../policy/tiers.js';
import { parseHex, parseIntArg, toHex, UsageError } from '../args.js';
import { type Command, COMMON_HELP, muxOptions, parse } from '../common.js';

const DWORDS = ['nsid', 'cdw10', 'cdw11', 'cdw12', 'cdw13', 'cdw14', 'cdw15'] as const;

export const send: Command = {
  name: 'send',
  summary: 'send one command to one device and print the answer',
  help: `usage: mbxmux send <device> <opcode> [--payload HEX] [--json] [--tier T] [--host N] [--fm] [--timeout MS]
                   [--tunnel 2,1] [--mctp-type N] [--nsid N --cdw10 N ... --cdw15 N --data HEX]
  sends one command, e.g. mbxmux send mem0 0x4000 --json   ->   {"rc":0,"payload":"<hex>"}
  --tier      configuration | debug-read | debug-write | debug-write-full | fabric-destructive (default debug-read)
  --fm        act as the fabric manager (reach every host's devices)
  --tunnel    CXL switch: tunnel through these port/LD ids, outermost first
  --mctp-type MCTP endpoint: message type to use instead of the command set's
  NVMe: --nsid, --cdw10..--cdw15 (numbers, 0x.. hex allowed), --data HEX (host-to-controller data)
${COMMON_HELP}`,
  async run(args) {
    const { values, positionals } = parse(args, {
      json: { type: 'boolean' }, payload: { type: 'string' }, tier: { type: 'string' }, host: { type: 'string' }, fm: { type: 'boolean' },
      timeout: { type: 'string' }, tunnel: { type: 'string' }, 'mctp-type': { type: 'string' }, data: { type: 'string' },
      nsid: { type: 'string' }, cdw10: { type: 'string' }, cdw11: { type: 'string' }, cdw12: { type: 'string' },
      cdw13: { type: 'string' }, cdw14: { type: 'string' }, cdw15: { type: 'string' },
    });
    if (values.help) return (console.log(this.help), 0);
    if (positionals.length !== 2) throw new UsageError('send needs <device> <opcode>, e.g. mbxmux send mem0 0x4000');
    const [device, op] = positionals as [string, string];
    const req: SendRequest = { device, opcode: parseIntArg(op, 'opcode', 0, 0xffff)! };
    if (values.payload !== undefined) req.payload = parseHex(values.payload, '--payload');
    if (values.data !== undefined) req.data = parseHex(values.data, '--data');
    for (const k of DWORDS) {
      const v = parseIntArg(values[k], `--${k}`, 0, 0xffffffff);
      if (v !== undefined) req[k] = v;
    }
    if (values.tunnel !== undefined) req.tunnel = values.tunnel.split(',').map((x, i) => parseIntArg(x.trim(), `--tunnel hop ${i + 1}`, 0, 255)!);
    const mt = parseIntArg(values['mctp-type'], '--mctp-type', 0, 127);
    if (mt !== undefined) req.mctpType = mt;
    const timeoutMs = parseIntArg(values.timeout, '--timeout', 0, 3_600_000);
    if (timeoutMs !== undefined) req.timeoutMs = timeoutMs;
    const tier = values.tier === undefined ? 'debug-read' : parseTier(values.tier);
    const host = parseIntArg(values.host, '--host', 0, 65535) ?? 0;
    // --timeout 0 (no timeout): the operator who runs this command creates the mux, so it is theirs to allow
    const mux = await createMux({ ...muxOptions(values), ...(timeoutMs === 0 ? { noTimeoutTier: tier } : {}) });
    try {
      const r = await mux.openSession({ tier, host, fabricManager: values.fm === true }).send(req);
      if (values.json) {
        console.log(JSON.stringify({ rc: r.rc, payload: toHex(r.payload), ...(r.cqe ? { cqe: toHex(r.cqe) } : {}), ...(r.tunnel ? { tunnel: r.tunnel } : {}) }));
      } else {
        const status = r.cqe ? describeStatus(r.rc) : rcName(r.rc);
        console.log(`rc 0x${r.rc.toString(16).padStart(2, '0')} ${status}${r.vendorStatus ? ` vendor 0x${r.vendorStatus.toString(16)}` : ''}${r.background ? ' (background operation running)' : ''}`);
        if (r.cqe) console.log(`cqe ${toHex(r.cqe)}`);
        if (r.tunnel) console.log(`tunnel hops ${r.tunnel.hops.map((h) => `0x${h.opcode.toString(16)}:rc ${h.rc}`).join(' -> ')}`);
        console.log(`payload ${r.payload.byteLength} bytes${r.payload.byteLength ? `: ${toHex(r.payload)}` : ''}`);
      }
    } finally {
      await mux.close();
    }
    return 0;
  },
};
