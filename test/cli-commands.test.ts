import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

// `mbxmux send` by name, decoded output, `mbxmux effects`, and shell completion, through the real CLI.
const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;
const FLEET = ['--fleet', 'cxl-type3=2,cxl-switch=1,nvme=1,mctp-pcc=2', '--workers', '1'];
const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

test('send by name: the same command in every spelling, decoded', () => {
  const a = run('send', 'mem0', 'get-health-info', ...FLEET);
  assert.is(a.code, 0, a.err);
  assert.match(a.out, /^rc 0x00 SUCCESS\nGet Health Info \(0x4200\) on mem0, decoded as Health Info:\n/);
  assert.match(a.out, /\n {2}media status\n {4}raw {3}0\n {4}text {2}normal\n/);
  assert.match(a.out, /\n {2}temperature c {4,}\d+\n/);
  assert.is(a.err, '');
  const b = run('send', 'mem0', 'Get Health Info', ...FLEET);
  assert.is(b.out, a.out, 'the seed fixes every value: same name, same answer');
  const c = run('send', 'mem0', '0x4200', ...FLEET);
  assert.is(c.out, a.out);
});

test('a bare number is read as hex, with a one-line note on stderr', () => {
  const r = run('send', 'mem0', '4200', '--raw', ...FLEET);
  assert.is(r.code, 0, r.err);
  assert.is(r.err, 'mbxmux send: note: read "4200" as hex 0x4200 (Get Health Info): opcodes are hex for cxl-type3; write 0x4200 to drop this note\n');
  // Get Health Info output is 12h bytes
  assert.match(r.out, /^rc 0x00 SUCCESS\npayload 18 bytes: [0-9a-f]{36}\n$/);
});

test('--json carries hex and decoded fields (and the hints); NVMe and switch commands by name', () => {
  const r = run('send', 'nvme0', 'identify-controller', '--json', ...FLEET);
  assert.is(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal([j.rc, j.opcode, j.command, j.payloadBytes], [0, '0x06', 'Identify: Identify Controller', 4096]);
  const bytes = Buffer.from(j.payload, 'hex');
  // Identify Controller: SN at bytes 4-23, MN at 24-63 (ASCII, space padded)
  assert.is(j.decoded.as, 'Identify Controller');
  assert.is(j.decoded.value.serialNumber, bytes.subarray(4, 24).toString('ascii').trimEnd());
  assert.is(j.decoded.value.modelNumber, bytes.subarray(24, 64).toString('ascii').trimEnd());
  assert.is(j.decoded.value.version, '2.0.0');
  assert.equal([j.hints.readOnlyHint, j.hints.destructiveHint, j.hints.tier], [true, false, 'configuration']);
  const ports = JSON.parse(run('send', 'sw0', 'get-physical-port-state', '--payload', '0400010203', '--json', ...FLEET).out);
  assert.equal(ports.decoded.value.ports.map((p: { port: number }) => p.port), [0, 1, 2, 3]);
  assert.is(ports.decoded.value.ports[2].connectedDeviceType, 'CXL_TYPE3_MLD');
  const viaMctp = JSON.parse(run('send', 'mctp0', 'identify-switch-device', '--json', ...FLEET).out);
  assert.equal([viaMctp.target, viaMctp.decoded.value.physicalPorts], ['sw0', 5]);
  const tunnel = JSON.parse(run('send', 'sw0', 'get-ld-info', '--tunnel', '2', '--fm', '--json', ...FLEET).out);
  assert.equal([tunnel.target, tunnel.opcode, tunnel.rc], ['mld0', '0x5400', 0]);
});

test('--raw prints hex only; commands without a decoder print hex; effects logs decode by name', () => {
  const raw = run('send', 'mem0', 'identify', '--raw', ...FLEET);
  assert.match(raw.out, /^rc 0x00 SUCCESS\npayload 18 bytes: [0-9a-f]{36}\n$/);
  const lsa = run('send', 'mem0', 'get-lsa', '--payload', '0000000004000000', ...FLEET);
  assert.match(lsa.out, /^rc 0x00 SUCCESS\npayload 4 bytes: [0-9a-f]{8}\n$/, 'no decoder for Get LSA: the hex as before');
  // Get Log of the CEL: UUID 0da9c0b5-bf41-4b78-8f79-96b1623b3f17, offset 0, 16 bytes = 4 entries
  const cel = run('send', 'mem0', 'get-log', '--payload', '0da9c0b5bf414b788f7996b1623b3f17' + '00000000' + '10000000', ...FLEET);
  assert.is(cel.code, 0, cel.err);
  assert.match(cel.out, /decoded as Command Effects Log:\n {2}log {2}Command Effects Log\n {2}entries \(4\)\n {4}opcode {2}name {2,}effects\n {4}0x0001 {2}Identify {2,}-\n {4}0x0002 {2}Background Operation Status/);
  const nv = run('send', 'nvme0', 'commands-supported-and-effects', ...FLEET);
  assert.match(nv.out, /\n {2}admin \(\d+\)\n/);
  assert.match(nv.out, /0x84 {4}Sanitize {2,}CSUPP, LBCC, SCOPE_SUBSYSTEM, CSE=010b\n/);
  assert.match(nv.out, /\n {2}io \(5\)\n/);
});

test('bad names: one line naming the candidates (or the closest names), exit 2', () => {
  const amb = run('send', 'mem0', 'get-scan', ...FLEET);
  assert.is(amb.code, 2);
  assert.is(amb.err, 'mbxmux send: EMBX_BAD_REQUEST: "get-scan" is ambiguous for cxl-type3: it could be Get Scan Media Capabilities (0x4303), '
    + 'Get Scan Media Results (0x4305); give more of the name or the opcode\n');
  const unknown = run('send', 'sw0', 'get-health-info', ...FLEET);
  assert.is(unknown.code, 2);
  assert.match(unknown.err, /^mbxmux send: EMBX_BAD_REQUEST: no cxl-switch command is named "get-health-info"/);
  assert.is(unknown.err.trim().split('\n').length, 1);
  const both = run('send', 'mem0', 'identify', '--raw', '--json', ...FLEET);
  assert.is(both.code, 2);
});

test('effects DEVICE: every declared command with its name, tier, and whether --tier may send it', () => {
  const r = run('effects', 'mem0', ...FLEET);
  assert.is(r.code, 0, r.err);
  const lines = r.out.split('\n');
  assert.match(lines[0]!, /^mem0 \(cxl-type3\): 41 commands declared; allowed = may be sent with tier debug-read, host 0$/);
  assert.match(lines[1]!, /^opcode {2}name {2,}tier {2,}allowed {2}effects$/);
  assert.match(r.out, /\n0x4200 {2}Get Health Info {2,}configuration {5}yes {6}-\n/);
  assert.match(r.out, /\n0x4400 {2}Sanitize {2,}debug-write-full {2}no {7}IMMEDIATE_DATA_CHANGE IMMEDIATE_LOG_CHANGE SECURITY_STATE_CHANGE BACKGROUND_OP\n/);
  const full = run('effects', 'mem0', '--tier', 'debug-write-full', ...FLEET);
  assert.match(full.out, /\n0x4400 {2}Sanitize {2,}debug-write-full {2}yes/);
  const other = run('effects', 'mem4', ...FLEET); // an LD of the MLD bound to host 1
  assert.match(other.out.split('\n')[0]!, /not reachable by this session: mem4 is bound to host 1, not 0/);
  assert.not.match(other.out, / yes /);
  const j = JSON.parse(run('effects', 'nvme0', '--json', ...FLEET).out);
  const read = j.entries.find((e: { set: string; opcode: string }) => e.set === 'io' && e.opcode === '0x02');
  assert.equal([read.name, read.tier, read.allowed, read.hints.readOnlyHint], ['Read', 'debug-read', true, true]);
  const fmt = j.entries.find((e: { set: string; opcode: string }) => e.set === 'admin' && e.opcode === '0x80');
  assert.equal([fmt.name, fmt.hints.destructiveHint], ['Format NVM', true]);
});

test('__complete: commands, options, tiers, device ids of --fleet, command names of that device', () => {
  const c = (...words: string[]) => run('__complete', ...words).out.split('\n').filter(Boolean);
  assert.ok(c('').includes('send') && c('').includes('effects') && c('').includes('completion'));
  assert.not.ok(c('').includes('__complete'), 'the helper is hidden');
  assert.ok(c('send', '--').includes('--payload') && c('send', '--').includes('--fleet') && c('send', '--').includes('--raw'));
  assert.equal(c('send', '--tier', ''), ['configuration', 'debug-read', 'debug-write', 'debug-write-full', 'fabric-destructive']);
  assert.equal(c('send', '--json', '--fleet', ''), [':files']);
  assert.equal(c('send', '--fleet', 'cxl-type3=3', ''), ['mem0', 'mem1', 'mem2']);
  const names = c('send', '--fleet', 'nvme=1', 'nvme0', '');
  assert.ok(names.includes('identify-controller') && names.includes('smart-health-information') && names.includes('create-io-completion-queue'));
  assert.not.ok(names.includes('read'));
  assert.ok(c('send', '--fleet', 'nvme=1', '--queue', '1', 'nvme0', '').includes('read'), 'an I/O queue: the NVM command set');
  assert.ok(c('send', 'sw0', '--tunnel', '2', '').includes('get-ld-info'));
  assert.ok(c('send', 'mem0', 'get-h').includes('get-health-info'));
  assert.equal(c('completion', ''), ['bash', 'zsh', 'fish']);
  assert.equal(c('effects', '--fleet', 'cxl-switch=1', ''), ['sw0', 'mem0', 'mem1', 'mem2', 'mem3', 'mem4', 'mem5'], 'mld0 answers only through a tunnel');
});

test('completion bash: the script completes through the real CLI in bash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mbxmux-completion-'));
  try {
    const script = join(dir, 'mbxmux.bash');
    const gen = run('completion', 'bash');
    assert.is(gen.code, 0, gen.err);
    writeFileSync(script, gen.out);
    // an `mbxmux` on PATH that runs this build
    const bin = join(dir, 'mbxmux');
    writeFileSync(bin, `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(bin, 0o755);
    const complete = (line: string): string[] => {
      const words = line.split(' ');
      const r = spawnSync('bash', ['-c', `source "${script}"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _mbxmux; printf '%s\\n' "\${COMPREPLY[@]}"`],
        { encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, timeout: 30_000 });
      assert.is(r.status, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean);
    };
    assert.equal(complete('mbxmux se'), ['send', 'serve']);
    assert.equal(complete('mbxmux send --fleet cxl-type3=12 mem1'), ['mem1', 'mem10', 'mem11']);
    assert.equal(complete('mbxmux send mem0 get-health'), ['get-health-info', 'get-health-information']);
    assert.equal(complete('mbxmux send nvme0 identify-c'), ['identify-controller']);
    assert.equal(complete('mbxmux effects --tier debug-w'), ['debug-write', 'debug-write-full']);
    assert.ok(complete('mbxmux completion ').includes('zsh'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('completion zsh and fish scripts ask the same helper; a bad shell is a usage error', () => {
  const zsh = run('completion', 'zsh').out;
  assert.match(zsh, /^#compdef mbxmux\n/);
  assert.match(zsh, /mbxmux __complete "\$\{\(@\)words\[2,CURRENT\]\}"/);
  assert.match(zsh, /compdef _mbxmux mbxmux/);
  const fish = run('completion', 'fish').out;
  assert.match(fish, /complete -c mbxmux -f -a '\(__mbxmux_complete\)'/);
  assert.match(fish, /mbxmux __complete \$words\[2\.\.-1\] \(commandline -ct\)/);
  const bad = run('completion', 'tcsh');
  assert.is(bad.code, 2);
  assert.is(bad.err, 'mbxmux completion: completion needs one shell: bash, zsh, fish (got tcsh)\n');
});

test.run();
