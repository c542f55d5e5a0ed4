import { z } from 'zod';

/**
 * Output schemas of the MCP tools (outputSchema): every tool answers structuredContent matching its schema
 * beside the same JSON as text. The SDK checks each answer against it on the server, and clients check it
 * again. Decoded device structures vary by command, so they are open objects; everything mbxmux itself
 * adds is listed field by field.
 */

const KIND = z.enum(['cxl-type3', 'cxl-switch', 'cxl-mld', 'nvme', 'mctp-pcc']);
const FAMILY = z.enum(['cxl-type3', 'cxl-switch', 'cxl-mld', 'nvme', 'nvme-io']);
const TIER = z.enum(['configuration', 'debug-read', 'debug-write', 'debug-write-full', 'fabric-destructive']);
const OPEN = z.looseObject({});

const device = {
  id: z.string(), kind: KIND, host: z.number().int(), shard: z.number().int(),
  reachableVia: z.object({ device: z.string(), port: z.number().int() }).optional().describe('an MLD\'s FM-owned LD: reached through this switch port'),
  fronts: z.string().optional().describe('an MCTP endpoint: the device it carries commands to'),
};

export const listDevicesOutput = {
  total: z.number().int(), offset: z.number().int(), count: z.number().int(),
  devices: z.array(z.object(device)),
};

export const fleetResource = z.object({
  session: z.object({ tier: TIER, host: z.number().int(), fabricManager: z.boolean() }),
  total: z.number().int(),
  devices: z.array(z.object({ ...device, reachable: z.boolean().describe('this session may address it') })),
});

const hints = {
  readOnlyHint: z.boolean(), destructiveHint: z.boolean(), idempotentHint: z.boolean(),
};

export const callHints = z.object({
  ...hints,
  tier: z.string().describe('the tier the target\'s effects log gives this command (refused: not declared)'),
  effects: z.array(z.string()),
  decidedBy: z.string(),
}).describe('hints for THIS command, decided from its target\'s effects log (the tool\'s static annotations are the worst case for the session\'s tier)');

const backgroundState = {
  device: z.string(),
  source: z.enum(['Background Operation Status (0002h)', 'Sanitize Status log (81h)']),
  running: z.boolean(),
  percentComplete: z.number(),
  opcode: z.string(),
  command: z.string().nullable(),
  returnCode: z.number().int().optional(),
  status: z.string().optional(),
};

export const waitBackgroundOutput = {
  ...backgroundState,
  done: z.boolean().describe('false: following stopped at timeoutMs while the operation still runs'),
  polls: z.number().int(),
};

export const sendCommandOutput = {
  device: z.string(),
  target: z.string().optional().describe('the device that ran the command (through a tunnel or an MCTP endpoint)'),
  command: z.string(),
  opcode: z.string(),
  rc: z.number().int().describe('CXL return code, or the NVMe status field; non-zero is the device\'s answer, not a failure'),
  status: z.string(),
  vendorStatus: z.number().int().optional(),
  background: z.boolean().optional(),
  payloadBytes: z.number().int(),
  payload: z.string().describe('hex'),
  payloadTruncated: z.boolean().optional(),
  cqe: z.string().optional(), dw0: z.string().optional(), dw1: z.string().optional(),
  tunnel: z.object({
    hops: z.array(z.object({ opcode: z.number().int(), rc: z.number().int(), vendorStatus: z.number().int() })),
    failedAt: z.number().int(),
  }).optional(),
  note: z.string().optional(),
  hints: callHints,
  decoded: z.object({ as: z.string(), value: z.unknown().optional(), error: z.string().optional() }).optional(),
  backgroundOperation: z.union([
    z.object({ followed: z.literal(true), result: z.object(waitBackgroundOutput) }),
    z.object({ followed: z.literal(false), next: z.string() }),
  ]).optional(),
};

export const getHealthOutput = {
  device: z.string(),
  family: FAMILY,
  command: z.string(),
  health: OPEN.optional(),
  ports: z.array(OPEN).optional(),
  portCount: z.number().int().optional(),
};

export const effectsOutput = {
  device: z.string(),
  family: FAMILY,
  sessionTier: TIER,
  reachable: z.boolean(),
  unreachableReason: z.string().optional(),
  commands: z.number().int(),
  entries: z.array(z.object({
    opcode: z.string(),
    set: z.enum(['admin', 'io']).optional(),
    name: z.string().nullable(),
    effects: z.array(z.string()),
    tier: z.string(),
    allowed: z.boolean(),
    reason: z.string(),
    hints: z.object(hints),
  })),
};
