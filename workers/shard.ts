/**
 * piscina worker entry. Each shard is one long-lived task: it serves its rings until the main thread sets
 * STOP, then returns its report. piscina must be pointed at the compiled file (dist/workers/shard.js).
 */
import { serveShard } from '../src/shard/shard-server.js';

export default serveShard;
