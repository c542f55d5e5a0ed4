import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { exposeDevices, type ExposeOptions, type ExposeResult } from '../../expose/expose.js';
import { parseTier } from '../../policy/tiers.js';
import { parseIntArg, UsageError } from '../args.js';
import { type Command, parse } from '../common.js';

const list = (v: string | undefined): string[] | undefined => v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter((s) => s !== '');

const KIND_TEXT = { nvme: 'NVMe controller', 'nvme-ns': 'NVMe namespace', 'cxl-mem': 'CXL memory device', 'cxl-switch': 'CXL switch CCI' } as const;

function describe(r: ExposeResult): string {
  const w = Math.max(...r.devices.map((d) => d.path.length), 4);
  const shown = r.devices.slice(0, 32).map((d) => `  ${d.path.padEnd(w)}  -> ${d.device}${d.kind === 'nvme-ns' ? ` namespace ${d.nsid}` : ''} (${KIND_TEXT[d.kind]})`);
  if (r.devices.length > shown.length) shown.push(`  ... and ${r.devices.length - shown.length} more (all in ${r.map})`);
  const s = r.session;
  return [
    `${r.devices.length} device paths:`, ...shown,
    `each open is a session with tier ${s.tier}${s.tier !== s.requestedTier ? ` (asked ${s.requestedTier}; the server caps it)` : ''}, host ${s.host}${s.fabricManager ? ', fabric manager' : ''}`,
    ...r.notes.map((n) => `note: ${n}`),
    'run a tool with this in front of it, e.g.:',
    `  ${r.envLine} nvme id-ctrl /dev/nvme-mbx0 -o json`,
  ].join('\n');
}

/** Runs `cmd` with the expose environment; resolves with its exit code (128 + signal number if killed). */
function runWith(env: Record<string, string>, cmd: string[]): Promise<number> {
  const preload = process.env.LD_PRELOAD ? `${env.LD_PRELOAD}:${process.env.LD_PRELOAD}` : env.LD_PRELOAD!;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: 'inherit', env: { ...process.env, ...env, LD_PRELOAD: preload } });
    child.once('error', (e) => reject(new UsageError(`cannot run ${cmd[0]}: ${e.message}`)));
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}

const OPTIONS = {
  socket: { type: 'string' }, port: { type: 'string' }, address: { type: 'string' }, nvme: { type: 'string' }, mem: { type: 'string' },
  switch: { type: 'string' }, tier: { type: 'string' }, host: { type: 'string' }, fm: { type: 'boolean' }, 'cache-dir': { type: 'string' },
  'print-env': { type: 'boolean' }, 'token-file': { type: 'string' },
} as const;

export const expose: Command = {
  name: 'expose',
  summary: 'make emulated devices appear to unmodified host tools (nvme-cli, CXL uAPI programs) via a preload library',
  options: OPTIONS,
  help: `usage: mbxmux expose (--socket PATH | --port N [--address A]) [--nvme LIST] [--mem LIST] [--switch LIST]
                     [--token-file F] [--tier T] [--host N] [--fm] [--cache-dir DIR] [--print-env | -- COMMAND ARGS...]
  Presents devices of a running \`mbxmux serve\` as kernel device nodes to programs started with the
  environment it prints: /dev/nvme-mbx<i> (and /dev/nvme-mbx<i>n<nsid>) with the NVMe passthrough ioctls,
  /dev/cxl/mem-mbx<i> and /dev/cxl/switch-mbx<i> with the CXL_MEM_* ioctls. Every ioctl is a request on the
  server under the session's tier, host and audit. The preload library is built with the system C compiler
  (cc/gcc/clang, or $CC) into the cache directory the first time.
  --socket PATH   the server's Unix socket (serve --socket), or
  --port N        its TCP port (serve --port), with --address A (default 127.0.0.1)
  --nvme LIST     NVMe controllers to expose, in order: nvme3,nvme0 -> /dev/nvme-mbx0, /dev/nvme-mbx1
  --mem LIST      CXL type-3 devices (LDs of MLDs included) -> /dev/cxl/mem-mbx<i>
  --switch LIST   CXL switches -> /dev/cxl/switch-mbx<i>
                  "all" takes every device of the kind; with none of the three, every device of the three
                  kinds is exposed, numbered in the server's order (nvme<N> -> /dev/nvme-mbx<N> on a fresh fleet)
  --token-file F  a file whose first line is this client's token (when serve has --tokens; TCP always does);
                  the tool's sessions read it too (MBXMUX_TOKEN_FILE), the secret never goes in the env line
  --tier T        the tier each tool session asks for (default debug-read; the server caps it)
  --host N        the host the tool acts for (default: the one the server gives this client)
  --fm            fabric-manager sessions (the server needs --allow-fm; needed to tunnel to an MLD's LDs)
  --cache-dir DIR where the library and device maps are kept (default ~/.cache/mbxmux)
  --print-env     print only the LD_PRELOAD=... MBXMUX_SOCKET=... line, e.g.
                    eval "$(mbxmux expose --socket /tmp/m.sock --print-env) nvme smart-log /dev/nvme-mbx0"
  -- COMMAND      run COMMAND with that environment and exit with its status`,
  async run(args) {
    const dash = args.indexOf('--');
    const command = dash >= 0 ? args.slice(dash + 1) : [];
    const { values, positionals } = parse(dash >= 0 ? args.slice(0, dash) : args, OPTIONS);
    if (values.help) return (console.log(this.help), 0);
    if (positionals.length > 0) throw new UsageError(`expose takes no positional arguments; put the command after -- (got "${positionals[0]}")`);
    if (values.fleet !== undefined || values.workers !== undefined) throw new UsageError('expose talks to a running server; --fleet and --workers belong to mbxmux serve');
    if ((values.socket === undefined) === (values.port === undefined)) throw new UsageError('expose needs exactly one of --socket PATH or --port N (where mbxmux serve listens)');
    if (values.address !== undefined && values.port === undefined) throw new UsageError('--address applies to --port');
    if (dash >= 0 && command.length === 0) throw new UsageError('nothing to run after --');
    if (values['print-env'] && command.length > 0) throw new UsageError('--print-env and -- COMMAND exclude each other');
    const opts: ExposeOptions = {};
    if (values.socket !== undefined) opts.socket = values.socket;
    if (values.port !== undefined) opts.port = parseIntArg(values.port, '--port', 1, 65535)!;
    if (values.address !== undefined) opts.address = values.address;
    const nvme = list(values.nvme), mem = list(values.mem), sw = list(values.switch);
    if (nvme) opts.nvme = nvme;
    if (mem) opts.mem = mem;
    if (sw) opts.switch = sw;
    try {
      opts.tier = parseTier(values.tier ?? 'debug-read');
    } catch (e) {
      throw new UsageError(`--tier: ${(e as Error).message}`);
    }
    const host = parseIntArg(values.host, '--host', 0, 65535);
    if (host !== undefined) opts.host = host;
    if (values.fm) opts.fabricManager = true;
    if (values['cache-dir'] !== undefined) opts.cacheDir = values['cache-dir'];
    if (values['token-file'] !== undefined) opts.tokenFile = values['token-file'];

    const r = await exposeDevices(opts);
    if (command.length > 0) {
      for (const n of r.notes) console.error(`mbxmux expose: note: ${n}`);
      return await runWith(r.env, command);
    }
    if (values['print-env']) {
      for (const n of r.notes) console.error(`mbxmux expose: note: ${n}`);
      console.log(r.envLine);
    } else {
      console.log(describe(r));
    }
    return 0;
  },
};
