import type { Command } from '../common.js';
import { bench } from './bench.js';
import { devices } from './devices.js';
import { expose } from './expose.js';
import { load } from './load.js';
import { mcp } from './mcp.js';
import { replay } from './replay.js';
import { report } from './report.js';
import { send } from './send.js';
import { serve } from './serve.js';

/** Every `mbxmux <command>`, in the order --help lists them. */
export const COMMANDS: readonly Command[] = [devices, send, load, report, bench, serve, expose, mcp, replay];
