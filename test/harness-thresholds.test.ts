import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BadRequestError } from '../src/errors.js';
import { Histogram } from '../src/harness/histogram.js';
import {
  evaluateThreshold, evaluateThresholds, formatThresholdResult, parseThreshold, parseThresholds, scopeOf, type ThresholdRun, type ThresholdSubject,
} from '../src/harness/thresholds.js';

test('parse: latency percentiles and units (to µs)', () => {
  const p = (s: string) => {
    const t = parseThreshold(s);
    return [t.metric, t.stat, t.percentile, t.op, t.limit];
  };
  assert.equal(p('p99<50us'), ['latency', 'percentile', 99, '<', 50]);
  assert.equal(p('p999<=2ms'), ['latency', 'percentile', 99.9, '<=', 2000]);
  assert.equal(p('p99.9<2ms'), ['latency', 'percentile', 99.9, '<', 2000]);
  assert.equal(p('p(99.99) < 1.5s'), ['latency', 'percentile', 99.99, '<', 1.5e6]);
  assert.equal(p('p9999<10ms'), ['latency', 'percentile', 99.99, '<', 10_000]);
  assert.equal(p('p50>=500ns'), ['latency', 'percentile', 50, '>=', 0.5]);
  assert.equal(p('p100<1s'), ['latency', 'percentile', 100, '<', 1e6]);
  assert.equal(p('p90<3µs'), ['latency', 'percentile', 90, '<', 3]);
  assert.equal(p('max<1s'), ['latency', 'max', undefined, '<', 1e6]);
  assert.equal(p('mean<20us'), ['latency', 'mean', undefined, '<', 20]);
  assert.equal(p('avg<20us'), ['latency', 'mean', undefined, '<', 20]);
  assert.equal(p('min>0us'), ['latency', 'min', undefined, '>', 0]);
});

test('parse: errors, dropped, rate, requests and scopes', () => {
  const e = parseThreshold('errors<1%');
  assert.equal([e.metric, e.fraction, e.limit, e.op], ['errors', true, 0.01, '<']);
  const c = parseThreshold('errors==0');
  assert.equal([c.metric, c.fraction, c.limit, c.op], ['errors', undefined, 0, '==']);
  assert.equal(parseThreshold('dropped<=0.5%').limit, 0.005);
  assert.equal([parseThreshold('rate>=100000').metric, parseThreshold('rate>=100000').limit], ['rate', 100_000]);
  assert.is(parseThreshold('rate>=100k').limit, 100_000);
  assert.is(parseThreshold('throughput>1.5M').limit, 1.5e6);
  assert.equal([parseThreshold('requests>1000').metric, parseThreshold('requests>1000').limit], ['requests', 1000]);
  const s = parseThreshold('health@nvme:p99<1ms');
  assert.equal([s.scope, s.limit, s.expr], ['health@nvme', 1000, 'health@nvme:p99<1ms']);
  assert.is(parseThreshold(' nvme:errors<0.1% ').scope, 'nvme');
  assert.is(parseThresholds(['p99<1ms', 'errors<1%']).length, 2);
});

test('parse: bad syntax is a BadRequestError (usage error)', () => {
  for (const bad of ['p99', 'p99<', '<50us', 'p99<50', 'p99<50furlongs', 'p99~50us', 'p101<1ms', 'p<1ms', 'latency<1ms', 'errors<1ms',
    'errors<1.5', 'errors<101%', 'rate>=100us', 'requests>1k', 'max2<1ms', 'p99<-1ms', '']) {
    try {
      parseThreshold(bad);
      assert.unreachable(`"${bad}" should not parse`);
    } catch (e) {
      assert.instance(e, BadRequestError, bad);
      assert.match((e as Error).message, /^bad --threshold/, bad);
    }
  }
});

function subject(valuesUs: number[], errors = 0, dropped = 0, durationMs = 1000): ThresholdSubject {
  const h = new Histogram();
  for (const v of valuesUs) h.record(v * 1000);
  return {
    requests: h.total, errors, dropped, throughput: (h.total * 1000) / durationMs,
    latency: { count: h.total, min: h.min / 1000, mean: h.mean / 1000, max: h.max / 1000 }, percentile: (p) => h.percentile(p) / 1000,
  };
}

test('evaluate: latency, errors, rate against a subject', () => {
  // 1000 samples: 990 at 1 µs (exact in the histogram), 10 at 5 ms
  const s = subject([...Array<number>(990).fill(1), ...Array<number>(10).fill(5000)], 5, 2);
  const ev = (x: string) => evaluateThreshold(parseThreshold(x), s);
  assert.ok(ev('p99<20us').pass);
  assert.is(ev('p99<20us').actual, 1);
  assert.not.ok(ev('p999<1ms').pass);
  assert.ok(Math.abs(ev('p999<1ms').actual - 5000) / 5000 < 0.001);
  assert.ok(ev('max<=5ms').pass);
  assert.not.ok(ev('max<5ms').pass);
  assert.ok(ev('mean<100us').pass);
  assert.ok(ev('min>=1us').pass);
  assert.not.ok(ev('min>1us').pass);
  // errors: 5 of 1005 attempted
  assert.ok(ev('errors<1%').pass);
  assert.ok(Math.abs(ev('errors<1%').actual - 5 / 1005) < 1e-12);
  assert.not.ok(ev('errors<0.1%').pass);
  assert.not.ok(ev('errors==0').pass);
  assert.ok(ev('errors<=5').pass);
  assert.ok(ev('dropped<=2').pass);
  assert.not.ok(ev('dropped<0.1%').pass);
  assert.ok(ev('rate>=1000').pass);
  assert.not.ok(ev('rate>1k').pass);
  assert.ok(ev('requests==1000').pass);
  assert.match(formatThresholdResult(ev('p99<20us')), /^PASS {2}p99<20us {2}\(actual 1us\)$/);
  assert.match(formatThresholdResult(ev('errors<0.1%')), /^FAIL {2}errors<0\.1% {2}\(actual 0\.4975%\)$/);
  assert.match(formatThresholdResult(ev('rate>1k')), /actual 1,000\/s/);
});

test('evaluate: no samples or an unknown scope fails with a note', () => {
  const empty = subject([]);
  const r = evaluateThreshold(parseThreshold('p99<1ms'), empty);
  assert.not.ok(r.pass);
  assert.match(r.note!, /no completed requests/);
  assert.ok(evaluateThreshold(parseThreshold('errors<1%'), empty).pass, '0 of 0 is 0%');
  const u = evaluateThreshold(parseThreshold('gpu:p99<1ms'), undefined);
  assert.not.ok(u.pass);
  assert.match(formatThresholdResult(u), /^FAIL .*no command or device kind "gpu"/);
});

test('scopeOf: a command of the mix by its label, a device kind by any of its names, else null', () => {
  const names = ['health', 'health@nvme', 'read'];
  assert.equal(scopeOf('health@nvme', names, ['cxl-type3', 'nvme']), { command: 'health@nvme' });
  assert.equal(['mem', 'type3', 'cxl-type3'].map((s) => scopeOf(s, names, ['cxl-type3'])), [{ kind: 'cxl-type3' }, { kind: 'cxl-type3' }, { kind: 'cxl-type3' }]);
  assert.equal(['sw', 'switch', 'mctp'].map((s) => scopeOf(s, names, ['cxl-switch', 'mctp-pcc'])), [{ kind: 'cxl-switch' }, { kind: 'cxl-switch' }, { kind: 'mctp-pcc' }]);
  assert.is(scopeOf('nvme', names, ['cxl-type3']), null, 'a kind not in the run');
  assert.is(scopeOf('log', names, ['cxl-type3']), null, 'a command not in the mix');
});

test('evaluateThresholds: the whole run (errors = sent - requests), a command or a kind by scope, strings or parsed', () => {
  const group = (us: number[], errors: number, dropped: number): ThresholdRun['byCommand'][string] => {
    const h = new Histogram();
    for (const x of us) h.record(x * 1000);
    return { requests: h.total, errors, dropped, throughput: h.total, latency: { count: h.total, min: h.min / 1000, mean: h.mean / 1000, max: h.max / 1000 }, histogram: h };
  };
  const health = group(Array<number>(100).fill(10), 0, 0);
  const log = group(Array<number>(100).fill(2000), 4, 1);
  const all = group([...Array<number>(100).fill(10), ...Array<number>(100).fill(2000)], 0, 0);
  const run: ThresholdRun = {
    requests: 200, sent: 204, dropped: 1, throughput: 200, latency: all.latency, histogram: all.histogram,
    byCommand: { health, log }, byKind: { 'cxl-type3': all },
  };
  const r = evaluateThresholds(['errors<=4', 'errors<1%', 'dropped==1', 'p50<11us', 'health:p99<20us', 'log:p99<20us', 'log:errors==4', 'mem:rate>=200', 'nvme:p99<1ms', 'ports:p99<1ms', parseThreshold('log:max<=2ms')], run);
  assert.equal(r.map((t) => [t.expr, t.pass]), [
    ['errors<=4', true], ['errors<1%', false], ['dropped==1', true], ['p50<11us', true], ['health:p99<20us', true], ['log:p99<20us', false],
    ['log:errors==4', true], ['mem:rate>=200', true], ['nvme:p99<1ms', false], ['ports:p99<1ms', false], ['log:max<=2ms', true],
  ]);
  assert.is(r[1]!.actual, 4 / 204, 'errors of the whole run: sent - requests, over sent');
  assert.is(r[5]!.actual, 2000, "the log group's own histogram");
  assert.match(r[8]!.note!, /no command or device kind "nvme"/);
  assert.equal(evaluateThresholds([], run), []);
});

test.run();
