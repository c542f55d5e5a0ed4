/**
 * piscina worker entry. Each worker thread runs one long-lived task that serves its shards' rings until the
 * main thread sets STOP, then returns its report. piscina must be pointed at the compiled file
 * (dist/workers/thread.js).
 */
import { serveThread } from '../src/shard/thread-server.js';

export default serveThread;
