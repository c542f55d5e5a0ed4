import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Service } from 'kubernetes-models/v1/Service';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { loadResultFromJSON } from '../src/harness/report.js';
import { CLI } from './socket-harness.js';

/**
 * The container image and the Kubernetes manifests, checked without Docker or a cluster (neither runs here):
 * every manifest against the Kubernetes API's JSON schemas (kubernetes-models: the schemas compiled with ajv),
 * the manifests against each other (slices = replicas, segments = completions, names, labels, the Secret's
 * keys), their shell commands run for real on this machine with the pod's environment, and the Dockerfile
 * parsed: a Node LTS base, a non-root user, and sources that exist.
 */

const root = new URL('../../', import.meta.url).pathname;
const k8sDir = join(root, 'deploy', 'kubernetes');

// manifests are free-form YAML: the schema check, not the type checker, decides what they hold
type Doc = Record<string, any>;

const MODELS: Record<string, new (d: Doc) => { validate(): void }> = {
  'apps/v1/StatefulSet': StatefulSet as never,
  'batch/v1/Job': Job as never,
  'v1/Service': Service as never,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim as never,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy as never,
};

/** Validates one object against its kind's schema; throws with the schema's complaint. */
function validate(doc: Doc, where: string): void {
  const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
  if (Model === undefined) throw new Error(`${where}: no schema for ${doc.apiVersion} ${doc.kind}`);
  try {
    new Model(doc).validate();
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
}

function manifests(): { file: string; doc: Doc }[] {
  return readdirSync(k8sDir).filter((f) => f.endsWith('.yaml')).sort().flatMap((file) => parseAllDocuments(readFileSync(join(k8sDir, file), 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`);
    return { file, doc: d.toJS() as Doc };
  }));
}

const byKind = (kind: string, name: string): Doc => {
  const m = manifests().find((x) => x.doc.kind === kind && x.doc.metadata.name === name);
  if (m === undefined) throw new Error(`no ${kind} ${name} in deploy/kubernetes`);
  return m.doc;
};

test('every manifest is valid against the Kubernetes API schemas', () => {
  const all = manifests();
  assert.equal(all.map((m) => `${m.doc.kind}/${m.doc.metadata.name}`).sort(), [
    'Job/mbxmux-load', 'Job/mbxmux-merge', 'NetworkPolicy/mbxmux-serve', 'PersistentVolumeClaim/mbxmux-reports', 'Service/mbxmux-serve', 'StatefulSet/mbxmux-serve',
  ]);
  for (const { file, doc } of all) validate(doc, file);
});

test('the schema check fails on broken manifests (it is not a rubber stamp)', () => {
  const sts = byKind('StatefulSet', 'mbxmux-serve');
  const broken: [string, (d: Doc) => void][] = [
    ['replicas as text', (d) => (d.spec.replicas = 'three')],
    ['no selector', (d) => delete d.spec.selector],
    ['containers not a list', (d) => (d.spec.template.spec.containers = { name: 'serve' })],
    ['port as text', (d) => (d.spec.template.spec.containers[0].ports[0].containerPort = 'seven')],
    ['probe port not int-or-string', (d) => (d.spec.template.spec.containers[0].readinessProbe.tcpSocket.port = { n: 1 })],
  ];
  for (const [what, breakIt] of broken) {
    const d = structuredClone(sts);
    breakIt(d);
    assert.throws(() => validate(d, what), /./, what);
  }
  const job = structuredClone(byKind('Job', 'mbxmux-load'));
  job.spec.completions = -1.5;
  assert.throws(() => validate(job, 'fractional completions'));
  const j2 = structuredClone(byKind('Job', 'mbxmux-load'));
  delete j2.spec.template.spec.containers[0].name;
  assert.throws(() => validate(j2, 'container without a name'));
});

/** The shell command of a pod's container (command: sh -c, args: [script]). */
const script = (podSpec: Doc): string => {
  const c = podSpec.containers[0];
  assert.equal(c.command, ['/bin/sh', '-c']);
  return c.args[0] as string;
};

test('the manifests agree: slices = replicas, targets = the serve pods, segments = completions, merge = the reports, the Secret\'s keys', () => {
  const svc = byKind('Service', 'mbxmux-serve');
  const sts = byKind('StatefulSet', 'mbxmux-serve');
  const load = byKind('Job', 'mbxmux-load');
  const merge = byKind('Job', 'mbxmux-merge');
  const np = byKind('NetworkPolicy', 'mbxmux-serve');
  const pvc = byKind('PersistentVolumeClaim', 'mbxmux-reports');
  const replicas = sts.spec.replicas as number;
  assert.is(sts.spec.serviceName, svc.metadata.name);
  assert.is(svc.spec.clusterIP, 'None', 'headless: one DNS name per pod');
  assert.equal(sts.spec.selector.matchLabels, sts.spec.template.metadata.labels);
  assert.equal(svc.spec.selector, sts.spec.template.metadata.labels);
  const port = svc.spec.ports[0].port as number;
  assert.is(sts.spec.template.spec.containers[0].ports[0].containerPort, port);
  const serve = script(sts.spec.template.spec);
  assert.ok(serve.includes(`--slice "\${POD_NAME##*-}/${replicas}"`), `the ordinal picks the slice of ${replicas}: ${serve}`);
  assert.match(serve, new RegExp(`--port ${port} `));
  assert.match(serve, /--tokens \/etc\/mbxmux\/tokens\.json/);
  const env = sts.spec.template.spec.containers[0].env as Doc[];
  assert.equal(env.find((e) => e.name === 'POD_NAME')?.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });

  assert.is(load.spec.completionMode, 'Indexed');
  const n = load.spec.completions as number;
  assert.is(load.spec.parallelism, n, 'every generator runs at once');
  const gen = script(load.spec.template.spec);
  assert.ok(gen.includes(`--segment "$JOB_COMPLETION_INDEX/${n}"`), gen);
  const targets = /--target (\S+)/.exec(gen)![1]!.split(',');
  assert.equal(targets, Array.from({ length: replicas }, (_, i) => `tcp://${sts.metadata.name}-${i}.${svc.metadata.name}:${port}`), 'one target per serve pod');
  assert.match(gen, /--token-file \/etc\/mbxmux\/token /);
  assert.match(gen, /--json "\/reports\/load-\$JOB_COMPLETION_INDEX\.json"/);
  assert.equal(merge.spec.template.spec.containers[0].args.slice(0, 2 + n), ['report', 'merge', ...Array.from({ length: n }, (_, k) => `/reports/load-${k}.json`)]);

  // the Secret: tokens.json (digests) for the servers only, the plain token for the generators only
  const secretItems = (pod: Doc): string[] => pod.volumes.filter((v: Doc) => v.secret).flatMap((v: Doc) => {
    assert.is(v.secret.secretName, 'mbxmux-tokens');
    return v.secret.items.map((i: Doc) => i.key);
  });
  assert.equal(secretItems(sts.spec.template.spec), ['tokens.json']);
  assert.equal(secretItems(load.spec.template.spec), ['token']);
  assert.equal(secretItems(merge.spec.template.spec), []);
  // reports: one claim, mounted by the generators and the merge step
  for (const pod of [load.spec.template.spec, merge.spec.template.spec]) {
    assert.is(pod.volumes.find((v: Doc) => v.persistentVolumeClaim)?.persistentVolumeClaim.claimName, pvc.metadata.name);
  }
  assert.equal(pvc.spec.accessModes, ['ReadWriteMany']);
  // only the generators reach the servers
  assert.equal(np.spec.podSelector.matchLabels, sts.spec.template.metadata.labels);
  assert.equal(np.spec.ingress[0].from[0].podSelector.matchLabels, load.spec.template.metadata.labels);
  assert.is(np.spec.ingress[0].ports[0].port, port);
  // every pod: non-root (uid 1000, the image's user), no privilege escalation, read-only root, no capabilities
  for (const pod of [sts.spec.template.spec, load.spec.template.spec, merge.spec.template.spec]) {
    assert.is(pod.securityContext.runAsNonRoot, true);
    assert.is(pod.securityContext.runAsUser, 1000);
    for (const c of pod.containers) {
      assert.equal(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      assert.is(c.image, 'mbxmux:latest');
    }
  }
});

/** Runs a pod's script with sh and the pod's environment: `listening` resolves with the first stdout (a server's address line), `exited` at the end. */
function sh(cmd: string, env: Record<string, string>): { kill: () => void; listening: Promise<string>; exited: Promise<{ code: number | null; out: string; err: string }> } {
  const c = spawn('/bin/sh', ['-c', cmd], { env: { PATH: process.env.PATH!, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  c.stderr.on('data', (b) => (err += b));
  const exited = new Promise<{ code: number | null; out: string; err: string }>((r) => c.on('close', (code) => r({ code, out, err })));
  const listening = new Promise<string>((resolve) => {
    c.stdout.on('data', (b) => {
      out += b;
      if (out.includes('\n')) resolve(out);
    });
    void exited.then((x) => resolve(`exited ${x.code}: ${x.out} ${x.err}`));
  });
  return { kill: () => c.kill('SIGTERM'), listening, exited };
}

test('the pods\' commands run as written: the ordinal picks the slice, the completion index the segment, the merge finds the reports', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mbxmux-deploy-'));
  const token = randomBytes(32).toString('hex');
  writeFileSync(join(dir, 'token'), token);
  writeFileSync(join(dir, 'tokens.json'), JSON.stringify({ tokens: [{ name: 'loadgen', sha256: createHash('sha256').update(token).digest('hex'), hosts: [0, 1], fabricManager: true }] }), { mode: 0o644 });
  // the scripts as the pods run them, with the image's paths and the cluster's addresses mapped to this machine
  const local = (s: string): string => s.replaceAll('/app/dist/', `${root}dist/`).replaceAll('/etc/mbxmux/', `${dir}/`).replaceAll('/reports/', `${dir}/`)
    .replace('--host 0.0.0.0 --listen-any', '--host 127.0.0.1').replace(/--port 7070/, '--port 0');
  const sts = byKind('StatefulSet', 'mbxmux-serve');
  const fleet = 'cxl-type3=12,cxl-switch=3,nvme=3,mctp-pcc=3';
  const pod = sh(local(script(sts.spec.template.spec)), { MBXMUX_FLEET: fleet, POD_NAME: 'mbxmux-serve-2' });
  try {
    const line = await pod.listening;
    assert.match(line, /^listening on 127\.0\.0\.1:\d+ \(\d+ devices, slice 2\/3 of 42, 1 token\)/, line);
    const port = /:(\d+) /.exec(line)![1]!;
    const load = script(byKind('Job', 'mbxmux-load').spec.template.spec);
    const gen = (k: number): Promise<{ code: number | null; err: string }> => sh(local(load)
      .replace(/--target \S+/, `--target tcp://127.0.0.1:${port}`).replace('--rate 30k --duration 60s --warmup 5s', '--rate 400 --duration 500ms --warmup 100ms'),
    { JOB_COMPLETION_INDEX: String(k) }).exited;
    for (const k of [0, 1]) {
      const g = await gen(k);
      assert.is(g.code, 0, g.err);
      const r = loadResultFromJSON(readFileSync(join(dir, `load-${k}.json`), 'utf8'));
      assert.equal(r.segment, { index: k, count: 2, whole: { concurrency: 65536, rate: 400, maxInFlight: 65536 } });
      assert.is(r.sent, 100, 'half of 400/s for 0.5 s');
    }
    const args = byKind('Job', 'mbxmux-merge').spec.template.spec.containers[0].args as string[];
    // the merge Job runs the image's entrypoint (node main.js) with its args
    const merged = await sh(`exec "${process.execPath}" "${CLI}" ${args.map((a) => `'${a.replace('/reports/', `${dir}/`)}'`).join(' ')}`, {}).exited;
    assert.is(merged.code, 0, merged.err);
    assert.match(merged.out, /^merged 2 reports, all 2 segments of one test/);
    assert.ok(existsSync(join(dir, 'all.json')) && existsSync(join(dir, 'all.html')));
    assert.is(loadResultFromJSON(readFileSync(join(dir, 'all.json'), 'utf8')).sent, 200);
  } finally {
    pod.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Dockerfile: a Node LTS base, npm ci and the build, a non-root user, and only sources that exist', () => {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const df = DockerfileParser.parse(text);
  const ins = df.getInstructions().map((i) => ({ kw: i.getKeyword(), args: i.getArguments().map((a) => a.getValue()), raw: i.getTextContent() }));
  const froms = ins.filter((i) => i.kw === 'FROM');
  assert.ok(froms.length >= 1);
  for (const f of froms) {
    const m = /^node:(\d+)-[a-z]+(-slim)?$/.exec(f.args[0]!);
    assert.ok(m !== null, `base image ${f.args[0]}: the official node image, pinned to a major`);
    const major = Number(m![1]);
    assert.ok(major % 2 === 0 && major >= 20, `node ${major}: an LTS line (even major) the project supports`);
  }
  const finalStage = ins.slice(ins.lastIndexOf(froms.at(-1)!));
  const users = finalStage.filter((i) => i.kw === 'USER');
  assert.is(users.length, 1, 'the final stage sets its user');
  const user = users[0]!.args[0]!.split(':')[0]!;
  assert.ok(user !== 'root' && user !== '0' && user !== '', `USER ${user}: not root`);
  assert.ok(/^\d+$/.test(user), 'numeric, so runAsNonRoot can verify it');
  assert.ok(ins.some((i) => i.kw === 'RUN' && /\bnpm ci\b/.test(i.raw)), 'npm ci');
  assert.ok(ins.some((i) => i.kw === 'RUN' && /\bnpm run build\b/.test(i.raw)), 'npm run build');
  const entry = finalStage.find((i) => i.kw === 'ENTRYPOINT')!;
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  assert.ok(entry.raw.includes(`/app/${pkg.bin.mbxmux!.replace(/^\.\//, '')}`), `ENTRYPOINT runs the package's bin: ${entry.raw}`);
  // every file or folder copied from the build context exists, and .dockerignore does not hide it
  const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const copies = ins.filter((i) => (i.kw === 'COPY' || i.kw === 'ADD') && !/--from=/.test(i.raw));
  assert.ok(copies.length >= 4);
  for (const c of copies) {
    for (const src of c.args.slice(0, -1)) {
      assert.ok(existsSync(join(root, src)), `COPY ${src}: exists`);
      assert.not.ok(ignored.includes(src.replace(/\/$/, '')), `COPY ${src}: not excluded by .dockerignore`);
    }
  }
  // what the final stage copies from the build stage is what the build produces and the CLI needs
  for (const c of finalStage.filter((i) => i.kw === 'COPY')) {
    const src = c.args[0]!;
    if (src.startsWith('/app/dist/')) assert.ok(existsSync(join(root, src.replace('/app/', ''))), `${src} is built by npm run build`);
  }
  for (const part of ['dist/src', 'dist/workers']) assert.ok(finalStage.some((i) => i.raw.includes(`/app/${part}`)), `the image has ${part}`);
});

test.run();
