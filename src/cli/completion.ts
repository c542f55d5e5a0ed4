import { catalog } from '../commands/families.js';
import { commandTarget } from '../commands/target.js';
import { buildFleet, DEFAULT_FLEET } from '../fleet/expand.js';
import type { Fleet, FleetInput } from '../fleet/types.js';
import { TIERS } from '../policy/tiers.js';
import { parseFleetArg } from './args.js';
import { type Command, COMMON, type OptionSpec } from './common.js';

/**
 * Shell completion, computed here and printed by the hidden command `mbxmux __complete WORD...` (the words
 * after `mbxmux`, the last one being completed) so that bash, zsh and fish share one implementation:
 * command names, each command's options, tiers, device ids of the fleet in the command line (--fleet, or
 * the default one: expanded without starting any worker), and the command names of that device's kind.
 */

export interface Completion {
  /** candidates (the shell filters them by the word's prefix) */
  items: string[];
  /** complete file names instead */
  files?: true;
}

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
const FILE_OPTIONS = new Set(['fleet', 'json', 'html', 'record', 'tokens', 'token-file', 'socket', 'compare', 'from', 'cache-dir', 'audit']);
const NONE: Completion = { items: [] };

/** The value of `--name X` / `--name=X` among `words`, last one wins. */
function optionValue(words: string[], name: string): string | undefined {
  let v: string | undefined;
  words.forEach((w, i) => {
    if (w === `--${name}`) v = words[i + 1];
    else if (w.startsWith(`--${name}=`)) v = w.slice(name.length + 3);
  });
  return v;
}

function fleetOf(words: string[]): Fleet {
  let input: FleetInput = DEFAULT_FLEET;
  try {
    input = parseFleetArg(optionValue(words, 'fleet')) ?? DEFAULT_FLEET;
  } catch {
    // a fleet flag still being typed: complete against the default fleet
  }
  return buildFleet(input, 1);
}

function commandNamesFor(words: string[], device: string): string[] {
  const fleet = fleetOf(words);
  const tunnel = optionValue(words, 'tunnel')?.split(',').map(Number).filter(Number.isInteger);
  const queue = Number(optionValue(words, 'queue') ?? 0);
  try {
    return catalog(commandTarget(fleet, device, { tunnel, queue }).family).slugs();
  } catch {
    return [];
  }
}

function positional(cmd: string, index: number, before: string[], done: string[]): Completion {
  const devices = (): Completion => ({ items: fleetOf(done).devices.filter((d) => d.tunnelOnly === undefined).map((d) => d.id) });
  switch (cmd) {
    case 'send':
      return index === 0 ? devices() : index === 1 ? { items: commandNamesFor(done, before[0]!) } : NONE;
    case 'effects':
      return index === 0 ? devices() : NONE;
    case 'completion':
      return index === 0 ? { items: [...SHELLS] } : NONE;
    case 'replay':
      return index === 0 ? { items: [], files: true } : NONE;
    default:
      return NONE;
  }
}

/** Candidates for the last of `words` (the words after `mbxmux`). */
export function complete(words: string[], commands: readonly Command[]): Completion {
  const cur = words.at(-1) ?? '';
  const done = words.slice(0, -1);
  if (done.length === 0) return { items: [...commands.filter((c) => !c.hidden).map((c) => c.name), 'help'] };
  const cmd = commands.find((c) => c.name === done[0]);
  if (cmd === undefined) return NONE;
  const opts: OptionSpec = { ...COMMON, ...cmd.options };
  let expecting: string | null = null;
  const positionals: string[] = [];
  for (const w of done.slice(1)) {
    if (expecting !== null) {
      expecting = null;
    } else if (w === '--') {
      return { items: [], files: true }; // expose -- COMMAND: the rest belongs to the command
    } else if (w.startsWith('--')) {
      const name = w.slice(2);
      if (opts[name]?.type === 'string') expecting = name;
    } else if (!(w.startsWith('-') && w.length > 1)) {
      positionals.push(w);
    }
  }
  if (expecting !== null) {
    if (expecting === 'tier' || expecting === 'max-tier') return { items: [...TIERS] };
    return FILE_OPTIONS.has(expecting) ? { items: [], files: true } : NONE;
  }
  if (cur.startsWith('-')) return { items: Object.keys(opts).map((o) => `--${o}`) };
  return positional(cmd.name, positionals.length, positionals, done);
}

/** `mbxmux completion SHELL`: a script that asks `mbxmux __complete` for every completion. */
export function completionScript(shell: (typeof SHELLS)[number]): string {
  switch (shell) {
    case 'bash':
      return `# mbxmux completion for bash: eval "$(mbxmux completion bash)" in ~/.bashrc
_mbxmux() {
  local cur=\${COMP_WORDS[COMP_CWORD]} out IFS=$'\\n'
  out=$(mbxmux __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
  if [[ $out == ":files" ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$out" -- "$cur"))
  fi
}
complete -o default -F _mbxmux mbxmux
`;
    case 'zsh':
      return `#compdef mbxmux
# mbxmux completion for zsh: source <(mbxmux completion zsh) in ~/.zshrc after compinit,
# or save it as _mbxmux in a directory of $fpath
_mbxmux() {
  local out
  out=$(mbxmux __complete "\${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
  if [[ $out == ":files" ]]; then
    _files
  else
    local -a items
    items=("\${(@f)out}")
    compadd -- $items
  fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _mbxmux "$@"; else compdef _mbxmux mbxmux; fi
`;
    case 'fish':
      return `# mbxmux completion for fish: mbxmux completion fish > ~/.config/fish/completions/mbxmux.fish
function __mbxmux_complete
    set -l words (commandline -opc)
    set -l out (mbxmux __complete $words[2..-1] (commandline -ct) 2>/dev/null)
    if test "$out" = ":files"
        __fish_complete_path (commandline -ct)
    else
        printf '%s\\n' $out
    end
end
complete -c mbxmux -f -a '(__mbxmux_complete)'
`;
  }
}
