#!/usr/bin/env node
/**
 * mbxmux command line. `mbxmux --help` lists the commands, `mbxmux <command> --help` explains each.
 * Errors print as one line; bad usage exits 2, failures exit 1.
 */
import { isMbxError } from '../errors.js';
import { isUsage, UsageError } from './args.js';
import { COMMANDS } from './commands/index.js';
import { COMMON_HELP } from './common.js';

function mainHelp(): string {
  const listed = COMMANDS.filter((c) => !c.hidden);
  const w = Math.max(...listed.map((c) => c.name.length));
  return `usage: mbxmux <command> [options]

commands:
${listed.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join('\n')}

common options:
${COMMON_HELP}`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
      console.log(mainHelp());
      return 0;
    }
    const cmd = COMMANDS.find((c) => c.name === name);
    if (cmd === undefined) throw new UsageError(`unknown command "${name}"; run mbxmux --help`);
    return await cmd.run(rest);
  } catch (e) {
    const msg = isMbxError(e) ? `${e.code}: ${e.message}` : (e as Error).message;
    console.error(`mbxmux ${name ?? ''}: ${msg}`.replace(/\s+:/, ':'));
    return isUsage(e) ? 2 : 1;
  }
}

/**
 * The reader of our output went away (`mbxmux devices | head`): the output is over, not the program broken.
 * Exit quietly, status 0, rather than die of the unhandled EPIPE 'error' event with a stack.
 */
function exitQuietlyOnEpipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

exitQuietlyOnEpipe(process.stdout);
exitQuietlyOnEpipe(process.stderr);
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
