import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLI, until } from '../socket-harness.js';

/**
 * Issue 11 item 12: the MCP server answers every line and keeps serving. A line over the SDK's 10 MiB cap
 * made it exit without a word; `"jsonrpc": "1.0"` or `"params": null` got no reply (the client waited
 * forever); a send_command with timeoutMs 0 on a hung device was ended only by the client. Tested with raw
 * stdio lines and with the MCP SDK's own client.
 */

const dir = mkdtempSync(join(tmpdir(), 'mbxmux-mcp-'));
const FLEET = join(dir, 'fleet.json');
// mem0-1 normal, mem2 never answers Get Health Info
writeFileSync(FLEET, JSON.stringify({ devices: [{ kind: 'cxl-type3', count: 2 }, { kind: 'cxl-type3', count: 1, faults: { hang: [0x4200] } }] }));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** `mbxmux mcp` on raw pipes: write lines, read JSON-RPC answers. */
class RawMcp {
  readonly child: ChildProcessWithoutNullStreams;
  readonly answers: Record<string, unknown>[] = [];
  stderr = '';
  private buf = '';
  exited = false;
  constructor(args: string[] = []) {
    this.child = spawn(process.execPath, [CLI, 'mcp', '--fleet', FLEET, '--workers', '1', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    process.once('exit', () => this.child.kill('SIGKILL'));
    this.child.stdout.on('data', (b: Buffer) => {
      this.buf += b.toString('utf8');
      for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
        this.answers.push(JSON.parse(this.buf.slice(0, nl)));
        this.buf = this.buf.slice(nl + 1);
      }
    });
    this.child.stderr.on('data', (b) => (this.stderr += b));
    this.child.on('exit', () => (this.exited = true));
    this.child.stdin.on('error', () => {});
  }
  line(text: string | Buffer): void {
    this.child.stdin.write(text);
    this.child.stdin.write('\n');
  }
  async answer(n: number): Promise<Record<string, unknown>> {
    await until(() => this.answers.length >= n || this.exited, `answer ${n}`, 20_000);
    assert.ok(this.answers.length >= n, `the server exited instead of answering: ${this.stderr}`);
    return this.answers[n - 1]!;
  }
}

const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };

test('raw lines: oversize, not JSON, jsonrpc 1.0, params null, a batch: each gets a JSON-RPC error and the server keeps serving', async () => {
  const m = new RawMcp();
  try {
    m.line(JSON.stringify(initialize));
    assert.equal((await m.answer(1)).id, 1);
    m.line(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    // 11 MiB in one line (over the 10 MiB default), ending with its id as the SDK writes requests
    m.line(`{"method":"tools/call","params":{"name":"send_command","arguments":{"device":"mem0","opcode":1,"payload":"${'ab'.repeat(11 * 512 * 1024)}"}},"jsonrpc":"2.0","id":2}`);
    const big = await m.answer(2);
    assert.equal([big.id, (big.error as { code: number }).code], [2, -32600]);
    assert.match((big.error as { message: string }).message, /longer than 10485760 bytes/);
    m.line('this is not json');
    assert.equal([(await m.answer(3)).id, ((await m.answer(3)).error as { code: number }).code], [null, -32700]);
    m.line(JSON.stringify({ jsonrpc: '1.0', id: 4, method: 'tools/list' }));
    const v1 = await m.answer(4);
    assert.equal([v1.id, (v1.error as { code: number }).code], [4, -32600]);
    assert.match((v1.error as { message: string }).message, /"jsonrpc" must be "2\.0"/);
    m.line(JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/list', params: null }));
    const pn = await m.answer(5);
    assert.equal([pn.id, (pn.error as { code: number }).code], [5, -32600]);
    assert.match((pn.error as { message: string }).message, /"params" must be an object/);
    m.line(JSON.stringify([{ jsonrpc: '2.0', id: 6, method: 'tools/list' }]));
    assert.equal(((await m.answer(6)).error as { code: number }).code, -32600);
    m.line(JSON.stringify({ jsonrpc: '2.0', id: 7, result: 'a response with no request' }).replace('"jsonrpc":"2.0"', '"jsonrpc":"2"'));
    assert.equal([(await m.answer(7)).id, ((await m.answer(7)).error as { code: number }).code], [null, -32600], 'a malformed response is not answered with its id');
    // still serving
    m.line(JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/list' }));
    const list = await m.answer(8);
    assert.is(list.id, 8);
    assert.is(((list.result as { tools: unknown[] }).tools).length, 5);
    assert.not.ok(m.exited);
  } finally {
    m.child.kill();
  }
});

test('a smaller --max-line is honoured, and a line that never ends costs no memory beyond the limit', async () => {
  const m = new RawMcp(['--max-line', '4096']);
  try {
    m.line(JSON.stringify(initialize));
    await m.answer(1);
    m.child.stdin.write('{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{"x":"');
    for (let i = 0; i < 64; i++) m.child.stdin.write('z'.repeat(64 * 1024));
    m.line('"}}');
    const a = await m.answer(2);
    assert.equal([(a.error as { code: number }).code, a.id], [-32600, null]); // the id is not at the end of this line
    m.line(JSON.stringify({ jsonrpc: '2.0', id: 10, method: 'tools/list' }));
    assert.is((await m.answer(3)).id, 10);
  } finally {
    m.child.kill();
  }
});

test('with the SDK client: timeoutMs 0 is refused, a hung device ends at the server\'s cap, an oversize call fails fast, serving goes on', async () => {
  const transport = new StdioClientTransport({
    command: process.execPath, args: [CLI, 'mcp', '--fleet', FLEET, '--workers', '1', '--max-timeout', '300ms'], stderr: 'pipe',
  });
  const client = new Client({ name: 'robustness', version: '1.0.0' });
  await client.connect(transport);
  try {
    const call = async (args: Record<string, unknown>): Promise<CallToolResult> =>
      (await client.callTool({ name: 'send_command', arguments: args }, undefined, { timeout: 20_000 })) as CallToolResult;
    const text = (r: CallToolResult): string => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
    const zero = await call({ device: 'mem2', opcode: 0x4200, timeoutMs: 0 });
    assert.is(zero.isError, true);
    assert.match(text(zero), /timeoutMs/);
    const long = await call({ device: 'mem0', opcode: 0x4200, timeoutMs: 301 });
    assert.is(long.isError, true);
    // the hung device: the server's cap ends the call (the client's own timeout is 20 s)
    const hung = await call({ device: 'mem2', opcode: 0x4200, timeoutMs: 300 });
    assert.is(hung.isError, true);
    assert.match(text(hung), /EMBX_TIMEOUT/);
    // an 11 MiB request: answered with an error for that call, not a dead server
    await client.callTool({ name: 'send_command', arguments: { device: 'mem0', opcode: 0x4103, payload: 'ab'.repeat(11 * 512 * 1024) } }, undefined, { timeout: 20_000 }).then(
      () => assert.unreachable('an oversize message must be refused'),
      (e: Error & { code?: number }) => {
        assert.is(e.code, -32600, String(e));
        assert.match(e.message, /longer than/);
      },
    );
    const ok = await call({ device: 'mem0', opcode: 0x4200 });
    assert.not.ok(ok.isError, text(ok));
  } finally {
    await client.close();
  }
});

test.run();
