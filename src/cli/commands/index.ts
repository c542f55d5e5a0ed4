import type { Command } from '../common.js';
import { bench } from './bench.js';
import { completionCommands } from './completion.js';
import { devices } from './devices.js';
import { effects } from './effects.js';
import { expose } from './expose.js';
import { load } from './load.js';
import { mcp } from './mcp.js';
import { replay } from './replay.js';
import { report } from './report.js';
import { send } from './send.js';
import { serve } from './serve.js';

/** Every `mbxmux <command>`, in the order --help lists them. */
export const COMMANDS: readonly Command[] = [devices, send, effects, load, report, bench, serve, expose, mcp, replay, ...completionCommands(() => COMMANDS)];
