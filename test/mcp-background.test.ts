import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult, Progress } from '@modelcontextprotocol/sdk/types.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, type Mux } from '../src/index.js';
import { createMcpServer } from '../src/server/mcp-server.js';
import type { McpToolsOptions } from '../src/server/device-tools.js';

// Background operations through MCP with the real SDK client: progress notifications while Sanitize runs,
// ending with its result, and wait_background. mem0 has 2 GiB, so its Sanitize runs 2 s (1 s per GiB);
// NVMe block erase runs 2 s. Polls every 20 ms.
type Result = CallToolResult & { structuredContent?: any };

let mux: Mux;
const servers: { close(): Promise<void> }[] = [];

async function connect(opts: Omit<McpToolsOptions, 'mux'>): Promise<Client> {
  const { server } = createMcpServer({ mux, pollIntervalMs: 20, ...opts });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  const client = new Client({ name: 'mbxmux-test', version: '1.0.0' });
  await client.connect(b);
  await client.listTools(); // the client checks every answer against the tools' outputSchema from here on
  servers.push(client, server);
  return client;
}

const text = (r: Result): string => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

test.before(async () => {
  mux = await createMux({
    workers: 1,
    fleet: { devices: [
      { kind: 'cxl-type3', count: 2, capacityBytes: 2 * 1024 ** 3 },
      { kind: 'cxl-switch' },
      { kind: 'nvme', count: 1 },
    ] },
  });
});

test.after(async () => {
  for (const s of servers) await s.close();
  await mux.close();
});

test('send_command\'s static annotations are the worst case of the session\'s tier', async () => {
  const full = await connect({ tier: 'debug-write-full' });
  const write = await connect({ tier: 'debug-write' });
  const ann = async (c: Client) => (await c.listTools()).tools.find((t) => t.name === 'send_command')!.annotations;
  assert.equal(await ann(full), { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false });
  // debug-write: changes after a reset, background operations, NVMe queues: neither read-only nor destructive
  assert.equal(await ann(write), { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false });
});

test('Sanitize with a progressToken: progress notifications while it runs, then its result', async () => {
  const client = await connect({ tier: 'debug-write-full' });
  const events: (Progress | 'result')[] = [];
  const r = await client.callTool({ name: 'send_command', arguments: { device: 'mem0', opcode: 'sanitize' } }, undefined,
    { onprogress: (p) => events.push(p), timeout: 30_000 }) as Result;
  events.push('result');
  assert.not.ok(r.isError, text(r));
  const s = r.structuredContent;
  assert.equal([s.command, s.opcode, s.rc, s.status], ['Sanitize', '0x4400', 1, 'BACKGROUND_STARTED']);
  assert.equal([s.hints.readOnlyHint, s.hints.destructiveHint, s.hints.idempotentHint, s.hints.tier], [false, true, false, 'debug-write-full']);
  assert.match(s.hints.decidedBy, /^mem0's Command Effects Log entry for 0x4400 \(IMMEDIATE_DATA_CHANGE, IMMEDIATE_LOG_CHANGE, SECURITY_STATE_CHANGE, BACKGROUND_OP\)/);
  const bg = s.backgroundOperation;
  assert.is(bg.followed, true);
  assert.equal([bg.result.done, bg.result.running, bg.result.opcode, bg.result.command, bg.result.returnCode, bg.result.status],
    [true, false, '0x4400', 'Sanitize', 0, 'SUCCESS']);
  assert.is(bg.result.source, 'Background Operation Status (0002h)');
  const progress = events.slice(0, -1) as Progress[];
  assert.ok(progress.length >= 2, `notifications: ${JSON.stringify(events)}`);
  assert.is(events.at(-1), 'result', 'every notification came before the result');
  // while the operation ran: a notification below 100%; then the end at 100%
  assert.ok(progress[0]!.progress < 100, JSON.stringify(progress));
  assert.match(progress[0]!.message!, /^Sanitize on mem0: \d+%$/);
  assert.equal([progress.at(-1)!.progress, progress.at(-1)!.total], [100, 100]);
  assert.match(progress.at(-1)!.message!, /^Sanitize on mem0: ended: SUCCESS$/);
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.progress > progress[i - 1]!.progress, 'progress only grows');
  assert.ok(bg.result.polls >= progress.length);
  // the media is back: a media command runs again
  const lsa = await client.callTool({ name: 'send_command', arguments: { device: 'mem0', opcode: 'get-lsa', payload: '0000000010000000' } }) as Result;
  assert.is(lsa.structuredContent.rc, 0);
});

test('without a progressToken the answer comes at once; wait_background follows it with progress', async () => {
  const client = await connect({ tier: 'debug-write-full' });
  const r = await client.callTool({ name: 'send_command', arguments: { device: 'mem1', opcode: 0x4400 } }) as Result;
  assert.not.ok(r.isError, text(r));
  assert.equal(r.structuredContent.backgroundOperation, { followed: false, next: 'call wait_background {"device":"mem1"} to follow it' });
  // media commands are refused while Sanitize runs (CXL r3.1 8.2.9.9.5.1): it really is running
  const busy = await client.callTool({ name: 'send_command', arguments: { device: 'mem1', opcode: 'get-poison-list', payload: '00'.repeat(16) } }) as Result;
  assert.is(busy.structuredContent.status, 'MEDIA_DISABLED');
  const seen: Progress[] = [];
  const w = await client.callTool({ name: 'wait_background', arguments: { device: 'mem1' } }, undefined, { onprogress: (p) => seen.push(p), timeout: 30_000 }) as Result;
  assert.not.ok(w.isError, text(w));
  assert.equal([w.structuredContent.done, w.structuredContent.command, w.structuredContent.status, w.structuredContent.percentComplete], [true, 'Sanitize', 'SUCCESS', 100]);
  assert.ok(seen.some((p) => p.progress < 100) && seen.at(-1)!.progress === 100, JSON.stringify(seen));
  // waiting again: nothing runs, the last operation is reported at once
  const again = await client.callTool({ name: 'wait_background', arguments: { device: 'mem1' } }) as Result;
  assert.equal([again.structuredContent.done, again.structuredContent.polls, again.structuredContent.opcode], [true, 1, '0x4400']);
  // timeoutMs: stop waiting, the operation goes on
  await client.callTool({ name: 'send_command', arguments: { device: 'mem1', opcode: 'sanitize' } });
  const short = await client.callTool({ name: 'wait_background', arguments: { device: 'mem1', timeoutMs: 1 } }) as Result;
  assert.equal([short.structuredContent.done, short.structuredContent.running], [false, true]);
  await client.callTool({ name: 'wait_background', arguments: { device: 'mem1' } });
});

test('NVMe Sanitize: followed through the Sanitize Status log, with progress', async () => {
  const client = await connect({ tier: 'debug-write-full' });
  const seen: Progress[] = [];
  // CDW10 SANACT 010b block erase
  const r = await client.callTool({ name: 'send_command', arguments: { device: 'nvme0', opcode: 'sanitize', cdw10: 2 } }, undefined,
    { onprogress: (p) => seen.push(p), timeout: 30_000 }) as Result;
  assert.not.ok(r.isError, text(r));
  const res = r.structuredContent.backgroundOperation.result;
  assert.equal([res.source, res.done, res.command, res.status, res.returnCode], ['Sanitize Status log (81h)', true, 'Sanitize', 'completed', 1]);
  assert.ok(seen.length >= 2 && seen[0]!.progress < 100 && seen.at(-1)!.progress === 100, JSON.stringify(seen));
  const log = await client.callTool({ name: 'send_command', arguments: { device: 'nvme0', opcode: 'sanitize-status' } }) as Result;
  assert.equal([log.structuredContent.decoded.as, log.structuredContent.decoded.value.status], ['Sanitize Status', 'completed']);
});

test('a tunnelled Sanitize is followed through the same tunnel; waitBackground without a token', async () => {
  const client = await connect({ tier: 'debug-write-full' });
  const r = await client.callTool({ name: 'send_command', arguments: { device: 'sw0', tunnel: [1], opcode: 'sanitize', waitBackground: true } }, undefined, { timeout: 30_000 }) as Result;
  assert.not.ok(r.isError, text(r));
  assert.is(r.structuredContent.target, 'mem2');
  assert.equal([r.structuredContent.backgroundOperation.result.done, r.structuredContent.backgroundOperation.result.status], [true, 'SUCCESS']);
});

test('every poll goes through the session: another host may not follow mem0, and a read-only tier may not start one', async () => {
  const other = await connect({ tier: 'debug-write-full', host: 1 });
  const r = await other.callTool({ name: 'wait_background', arguments: { device: 'mem0' } }) as Result;
  assert.is(r.isError, true);
  assert.match(text(r), /^EMBX_PERMISSION: .*mem0 is bound to host 0, not 1/);
  const reader = await connect({ tier: 'configuration' });
  const w = await reader.callTool({ name: 'wait_background', arguments: { device: 'mem0' } }) as Result;
  assert.not.ok(w.isError, text(w)); // Background Operation Status needs no more than configuration
  const s = await reader.callTool({ name: 'send_command', arguments: { device: 'mem0', opcode: 'sanitize' } }, undefined, { onprogress: () => {} }) as Result;
  assert.is(s.isError, true);
  assert.match(text(s), /needs tier debug-write-full; this session's tier is configuration, fixed by the operator/);
});

test.run();
