import { BadRequestError, CancelledError, ClosedError, WorkerLostError } from '../errors.js';
import type { Fleet } from '../fleet/types.js';
import type { Policy } from '../policy/engine.js';
import { timeoutOption } from '../validate.js';
import { type DeviceTable, Wire } from './device-table.js';
import { encodeRequest, fillCxl } from './encode.js';
import type { RecordPool, RequestRecord, RequestSession } from './request.js';
import type { ShardLink } from './shard-link.js';
import type { Tally } from './tally.js';
import type { SendRequest } from './types.js';

/**
 * The way in: checks a request (typed EMBX_* errors, nothing queued on failure), runs the permission check
 * against the target's own effects log, and encodes it into a request record for its shard's scheduler.
 */
export class Admission {
  constructor(
    private readonly fleet: Fleet,
    private readonly table: DeviceTable,
    private readonly policy: Policy,
    private readonly links: readonly ShardLink[],
    private readonly tally: Tally,
    private readonly pool: RecordPool,
    private readonly checkPermissions: boolean,
    private readonly defaultTimeoutMs: number,
  ) {}

  /** Validates a request and builds its record (throws typed errors; nothing is queued on failure). */
  admit(session: RequestSession, req: SendRequest): RequestRecord {
    if (this.tally.closing) throw new ClosedError();
    if (session.closed) throw new ClosedError('this session is closed; open a new one with mux.openSession()');
    if (typeof req !== 'object' || req === null) throw new BadRequestError('send() takes an object: { device, opcode, payload? }');
    const t = this.table;
    const di = t.find(req.device);
    if (di < 0) {
      throw new BadRequestError(`unknown device ${JSON.stringify(req.device)}: list devices with mux.devices() or \`mbxmux devices\``,
        { device: req.device }, 'EMBX_UNKNOWN_DEVICE');
    }
    const d = t.desc[di]!;
    if (t.direct[di] === 0) {
      const via = d.tunnelOnly ? `${this.fleet.devices[d.tunnelOnly.via]!.id} port ${d.tunnelOnly.port}` : 'its switch';
      throw new BadRequestError(`${d.id} is an MLD's FM-owned LD and answers only through a tunnel (opcode 0x5300 to ${via})`, { device: d.id });
    }
    const opcode = req.opcode;
    if (!Number.isInteger(opcode) || opcode < 0 || opcode > 0xffff) {
      throw new BadRequestError(`opcode must be an integer from 0x0000 to 0xFFFF (got ${JSON.stringify(opcode)})`, { opcode });
    }
    if (req.timeoutMs !== undefined) timeoutOption(req.timeoutMs, 'timeoutMs', 0);
    if (req.signal?.aborted) throw new CancelledError('EMBX_ABORTED', 'the request was aborted before it was sent', { device: d.id, opcode });
    const shard = t.shard[di]!;
    if (this.links[shard]!.status === 'dead') {
      throw new WorkerLostError(`the worker serving ${d.id} (shard ${shard}) died too often and is not restarted; create a new mux`,
        { device: d.id, shard });
    }
    const payload = req.payload;
    let ringOpcode = opcode;
    let flags = 0;
    let ringPayload: Uint8Array | null;
    let a0 = 0;
    let fill = fillCxl;
    let longLived = false;
    if (t.wire[di] === Wire.CXL && req.tunnel === undefined && req.mctpType === undefined && req.data === undefined) {
      // the hot path: a plain mailbox command, nothing allocated
      if (payload !== undefined && !(payload instanceof Uint8Array)) throw new BadRequestError('payload must be a Uint8Array (or Buffer)');
      if (payload !== undefined && payload.byteLength > t.maxPayload[di]!) {
        throw new BadRequestError(`payload of ${payload.byteLength} bytes exceeds ${d.id}'s mailbox of ${d.mailboxBytes} bytes`,
          { device: d.id, length: payload.byteLength, limit: d.mailboxBytes });
      }
      ringPayload = payload !== undefined && payload.byteLength > 0 ? payload : null;
    } else {
      const e = encodeRequest(req, d);
      ringOpcode = e.opcode;
      flags = e.flags;
      ringPayload = e.payload;
      a0 = e.a0;
      fill = e.fill;
      longLived = e.longLived === true;
    }
    let audit = null;
    if (!session.system && this.checkPermissions) {
      if (req.timeoutMs === 0 && this.defaultTimeoutMs !== 0) this.policy.checkNoTimeout(session, di, ringOpcode);
      audit = this.policy.check(session, di, ringOpcode, ringPayload);
    }
    // nothing can fail from here: a record taken from the pool always goes back
    const p = this.pool.take();
    p.init(session, d, di, shard, t.local[di]!, ringOpcode, flags, ringPayload, a0, fill, longLived);
    if (audit !== null) {
      p.audit = audit;
      p.auditLog = this.policy.audit;
    }
    return p;
  }
}
