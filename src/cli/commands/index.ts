import type { Command } from '../common.js';
import { bench } from './bench.js';
import { devices } from './devices.js';
import { load } from './load.js';
import { send } from './send.js';

/** Every `mbxmux <command>`, in the order --help lists them. */
export const COMMANDS: readonly Command[] = [devices, send, load, bench];
