import type { Mux } from '../mux/mux.js';
import type { KnownCommand } from './catalog.js';
import { catalog, type CommandFamily } from './families.js';
import { commandTarget } from './target.js';

/**
 * Commands by name, one layer for every front (CLI, MCP, replay): the names come from the device command
 * tables (catalog, families), a resolver turns what a user wrote into an opcode (resolve), a walk through
 * MCTP endpoints and tunnels finds the command set that names it (target), decoders turn answers into
 * fields (decode), and the effects view and hints describe what each command may change (effects-view, hints).
 */

export { CommandCatalog, normName, slug, type KnownCommand, type NamedFields } from './catalog.js';
export { catalog, FAMILIES, getLogCdw10, type CommandFamily } from './families.js';
export { commandName, resolveCommand, type ResolvedCommand } from './resolve.js';
export { commandTarget, type CommandTarget } from './target.js';
export { effectsView, type EffectsEntry, type EffectsView } from './effects-view.js';
export { hintsForTier, type CommandHints } from './hints.js';
export { decodeAnswer, type AnswerRequest, type Decoded } from './decode/index.js';
export { followBackground, readBackground, startedBackground, type BackgroundState, type FollowOptions, type FollowResult } from './background.js';

/** Every name a family knows (table names first, then aliases). */
export function commandNames(family: CommandFamily): readonly KnownCommand[] {
  return catalog(family).list;
}

/** The command set a device of the mux speaks (an MCTP endpoint: its fronted component's). */
export function familyOf(mux: Mux, device: string): CommandFamily {
  return commandTarget(mux.fleet, device).family;
}
