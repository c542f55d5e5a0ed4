import { existsSync } from 'node:fs';
import { replayRecording } from '../../server/replay.js';
import { readRecording } from '../../server/recorder.js';
import { parseDuration, parseIntArg, UsageError } from '../args.js';
import { type Command, COMMON_HELP, muxOptions, parse } from '../common.js';

const OPTIONS = {
  realtime: { type: 'boolean' }, 'time-tolerance': { type: 'string' }, ignore: { type: 'string' }, details: { type: 'string' },
  json: { type: 'boolean' }, 'max-timeout': { type: 'string' },
} as const;

export const replay: Command = {
  name: 'replay',
  summary: 'play a recording back on a fresh fleet and report answers that differ',
  options: OPTIONS,
  help: `usage: mbxmux replay FILE [--fleet SPEC] [--workers N] [--realtime] [--time-tolerance MS] [--ignore 0x0002,...]
                     [--details N] [--max-timeout DUR] [--json]
  Plays the requests of a recording (mbxmux serve --record, mbxmux mcp --record, or the Recorder class) back
  on a fresh fleet (the recording's own by default) and compares each answer with the recorded one: error
  code, rc, vendor status, payload bytes (NVMe: and completion dwords 0-1; tunnels: each hop's rc).
  Exit code 0 if every answer matches, 1 if any differs.
  Ordering: a request waits for every request that had completed before it started in the recording;
  requests that overlapped there overlap here. Idle gaps are skipped unless --realtime.
  Time: device timestamps (Get Timestamp 0300h, event record and poison-list overflow timestamps) are
  compared with a tolerance (default: the recording's duration + 1 s); Background Operation Status (0002h)
  and the NVMe Sanitize Status log are nondeterministic: their rc is compared, their bytes are not.
  Requests that had failed with EMBX_ABORTED, EMBX_RING_FULL, EMBX_BACKPRESSURE or EMBX_CLOSED are skipped.
  --realtime          keep the recording's pace (time-dependent answers such as background progress match better)
  --time-tolerance MS tolerance for device timestamps
  --ignore LIST       more opcodes whose payload bytes are not compared
  --details N         differences shown in detail (default 10)
  --max-timeout DUR   a replayed request waits at most this long (default 60s), whatever it recorded
  A recording is data: its records are checked before anything runs (a malformed one is a one-line error),
  its fleet must be inline (give a fleet file with --fleet), and it runs on at most one worker per core.
  --json              the report as JSON on stdout
${COMMON_HELP}`,
  async run(args) {
    const { values, positionals } = parse(args, OPTIONS);
    if (values.help) return (console.log(this.help), 0);
    if (positionals.length !== 1) throw new UsageError('replay needs one recording FILE, e.g. mbxmux replay session.mbxrec');
    const file = positionals[0]!;
    if (!existsSync(file)) throw new UsageError(`no such recording: ${file}`);
    const muxOpts = muxOptions(values);
    const tol = parseIntArg(values['time-tolerance'], '--time-tolerance', 0, 86_400_000);
    const details = parseIntArg(values.details, '--details', 0, 100_000) ?? 10;
    const maxTimeoutMs = values['max-timeout'] === undefined ? undefined : Math.round(parseDuration(values['max-timeout'], '--max-timeout'));
    const ignore = values.ignore === undefined ? [] : values.ignore.split(',').map((x, i) => parseIntArg(x.trim(), `--ignore entry ${i + 1}`, 0, 0xffff)!);
    const rec = await readRecording(file);
    const report = await replayRecording(rec, {
      ...(muxOpts.fleet !== undefined ? { fleet: muxOpts.fleet } : {}), ...(muxOpts.workers !== undefined ? { workers: muxOpts.workers } : {}),
      realtime: values.realtime === true, ignoreOpcodes: ignore, maxDetails: details, ...(tol !== undefined ? { timeToleranceMs: tol } : {}),
      ...(maxTimeoutMs !== undefined ? { maxTimeoutMs } : {}),
    });
    if (values.json) {
      console.log(JSON.stringify(report));
    } else {
      const skipped = report.skipped ? `, ${report.skipped} skipped (${Object.entries(report.skippedBy).map(([k, v]) => `${v} ${k}`).join(', ')})` : '';
      console.log(`replayed ${report.replayed} of ${report.total} requests in ${report.durationMs.toFixed(0)} ms${skipped}; `
        + `${report.nondeterministic} nondeterministic (payload not compared); timestamps within ${report.timeToleranceMs} ms`);
      if (report.incomplete) console.log('note: the recording has no end record or a torn last record (the recorder did not close cleanly)');
      console.log(`${report.differences} difference${report.differences === 1 ? '' : 's'}`);
      for (const d of report.details) {
        console.log(`  #${d.seq} ${d.session} ${d.device} ${d.opcode}${d.command ? ` ${d.command}` : ''}: ${d.field} recorded ${d.recorded}, replayed ${d.replayed}`);
      }
      if (report.differences > report.details.length) console.log(`  ... ${report.differences - report.details.length} more (--details N)`);
    }
    return report.differences > 0 ? 1 : 0;
  },
};
