import { UsageError } from '../args.js';
import type { Command } from '../common.js';
import { complete, completionScript, SHELLS } from '../completion.js';

/** `mbxmux completion SHELL` and the hidden `mbxmux __complete WORD...` the scripts call; `all` lists every command. */
export function completionCommands(all: () => readonly Command[]): Command[] {
  return [
    {
      name: 'completion',
      summary: 'print a shell completion script (bash, zsh, fish)',
      help: `usage: mbxmux completion bash|zsh|fish
  Prints a completion script for commands, options, tiers, device ids (of the --fleet on the command line,
  or the default fleet) and the command names of the device being sent to. Install:
    bash  eval "$(mbxmux completion bash)"                             (in ~/.bashrc)
    zsh   source <(mbxmux completion zsh)                              (in ~/.zshrc, after compinit)
    fish  mbxmux completion fish > ~/.config/fish/completions/mbxmux.fish`,
      async run(args) {
        if (args.includes('-h') || args.includes('--help')) return (console.log(this.help), 0);
        const shell = args[0];
        if (args.length !== 1 || !(SHELLS as readonly string[]).includes(shell!)) throw new UsageError(`completion needs one shell: ${SHELLS.join(', ')} (got ${args.join(' ') || 'none'})`);
        process.stdout.write(completionScript(shell as (typeof SHELLS)[number]));
        return 0;
      },
    },
    {
      name: '__complete',
      summary: 'completion candidates for the words after mbxmux (used by the completion scripts)',
      help: 'usage: mbxmux __complete WORD... (the last word is the one being completed; prints one candidate a line, or :files)',
      hidden: true,
      async run(args) {
        const c = complete(args.length ? args : [''], all());
        process.stdout.write(c.files ? ':files\n' : c.items.map((i) => `${i}\n`).join(''));
        return 0;
      },
    },
  ];
}
