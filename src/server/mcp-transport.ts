import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { type JSONRPCMessage, JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';

/**
 * MCP over stdio (newline-delimited JSON-RPC 2.0), answering every line. The SDK's StdioServerTransport
 * closes for good on a line over its 10 MiB buffer (the server then exits without a word) and drops lines
 * that fail its schema (`"jsonrpc": "1.0"`, `"params": null`) without a reply, so the client waits forever.
 * Here:
 *   - a line longer than maxLineBytes is discarded (only its first and last bytes are kept) and answered
 *     -32600 when it ends, with the request's id when the line ends with it (as the SDK writes requests),
 *     else id null; the next line is served normally;
 *   - a line that is not JSON is answered -32700 Parse error (id null);
 *   - JSON that is not a valid JSON-RPC 2.0 message is answered -32600 Invalid Request, with the request's
 *     id when it has a method and a usable id (so the client can match it), else id null.
 * Lines are split in linear time: chunks are kept in a list and joined once per line. Nothing is logged
 * about a refused line: every refusal goes back to the client on stdout.
 */

export const DEFAULT_MAX_LINE_BYTES = 10 * 1024 * 1024;

const EMPTY = Buffer.alloc(0);
const HEAD_BYTES = 256;
const TAIL_BYTES = 128;
const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;

export interface LineTransportOptions {
  /** longest line accepted, bytes (default 10 MiB) */
  maxLineBytes?: number;
}

export class BoundedStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private readonly maxLineBytes: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** inside a line over the limit: bytes are dropped up to its newline, keeping its first and last few */
  private discarding = false;
  private head: Buffer = EMPTY;
  private tail: Buffer = EMPTY;
  private started = false;
  private closed = false;

  constructor(private readonly input: Readable = process.stdin, private readonly output: Writable = process.stdout, opts: LineTransportOptions = {}) {
    this.maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  }

  async start(): Promise<void> {
    if (this.started) throw new Error('BoundedStdioTransport already started');
    this.started = true;
    this.input.on('data', this.onData);
    this.input.on('error', this.onInputError);
  }

  private readonly onInputError = (e: Error): void => {
    this.onerror?.(e);
  };

  private readonly onData = (chunk: Buffer | string): void => {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    while (buf.byteLength > 0) {
      const nl = buf.indexOf(0x0a);
      const part = nl < 0 ? buf : buf.subarray(0, nl);
      buf = nl < 0 ? EMPTY : buf.subarray(nl + 1);
      if (this.discarding) this.keepTail(part);
      else {
        this.pending.push(part);
        this.pendingBytes += part.byteLength;
        if (this.pendingBytes > this.maxLineBytes) this.startDiscarding();
      }
      if (nl < 0) return;
      // a line ended
      if (this.discarding) {
        this.discarding = false;
        this.tooLong();
      } else {
        const line = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
        this.pending = [];
        this.pendingBytes = 0;
        this.onLine(line);
      }
    }
  };

  /** The line is over the limit: keep only its first and last bytes (for its method and id) and drop the rest. */
  private startDiscarding(): void {
    const all = Buffer.concat(this.pending.length > 1 ? [this.pending[0]!.subarray(0, HEAD_BYTES), ...this.pending.slice(1)] : this.pending);
    this.head = Buffer.from(all.subarray(0, HEAD_BYTES));
    this.tail = Buffer.from(all.subarray(-TAIL_BYTES));
    this.pending = [];
    this.pendingBytes = 0;
    this.discarding = true;
  }

  private keepTail(part: Buffer): void {
    this.tail = Buffer.concat([this.tail, part.subarray(-TAIL_BYTES)]).subarray(-TAIL_BYTES);
  }

  /**
   * Answers a discarded line. The SDK writes a request as {"method":..,"params":..,"jsonrpc":"2.0","id":N},
   * so the id of a request that ends the line is echoed and the client's call fails at once instead of
   * waiting for its own timeout.
   */
  private tooLong(): void {
    const head = this.head.toString('latin1');
    const m = /"id"\s*:\s*(-?\d{1,15}|"[^"\\]{0,64}")\s*\}\s*\r?$/.exec(this.tail.toString('latin1'));
    const id = m !== null && /"method"\s*:/.test(head) ? JSON.parse(m[1]!) as string | number : null;
    this.head = EMPTY;
    this.tail = EMPTY;
    this.reply(id, INVALID_REQUEST, `the message line is longer than ${this.maxLineBytes} bytes, this server's limit; it was discarded`);
  }

  private onLine(raw: Buffer): void {
    const text = raw.toString('utf8').replace(/\r$/, '');
    if (text.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      this.reply(null, PARSE_ERROR, `Parse error: ${(e as Error).message}`);
      return;
    }
    const parsed = JSONRPCMessageSchema.safeParse(v);
    if (parsed.success) {
      this.onmessage?.(parsed.data);
      return;
    }
    const m = typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : null;
    // echo the id of a request only: a malformed *response* carries an id from the server's own id space
    const id = m !== null && typeof m.method === 'string' && (typeof m.id === 'string' || (typeof m.id === 'number' && Number.isSafeInteger(m.id))) ? m.id : null;
    const why = Array.isArray(v) ? 'batches are not supported'
      : m === null ? 'a message must be a JSON object'
        : m.jsonrpc !== '2.0' ? '"jsonrpc" must be "2.0"'
          : m.params !== undefined && (typeof m.params !== 'object' || m.params === null) ? '"params" must be an object or an array when present'
            : parsed.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).slice(0, 3).join('; ');
    this.reply(id, INVALID_REQUEST, `Invalid Request: ${why}`);
  }

  private reply(id: string | number | null, code: number, message: string): void {
    void this.write(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } }) + '\n');
  }

  send(message: JSONRPCMessage): Promise<void> {
    return this.write(JSON.stringify(message) + '\n');
  }

  private write(line: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      if (this.output.write(line)) resolve();
      else this.output.once('drain', resolve);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.input.off('data', this.onData);
    this.input.off('error', this.onInputError);
    if (this.input.listenerCount('data') === 0) this.input.pause();
    this.pending = [];
    this.onclose?.();
  }
}
