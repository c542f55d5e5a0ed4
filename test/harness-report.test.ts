import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Histogram, type HistogramJSON } from '../src/harness/histogram.js';
import { escapeHtml, renderHtmlReport } from '../src/harness/html.js';
import { runLoad } from '../src/harness/load.js';
import type { LoadResult } from '../src/harness/types.js';
import { formatLoadTable, loadResultFromJSON, loadResultToJSON, type LoadResultJSON } from '../src/harness/report.js';
import { SimFleet, VirtualClock } from './load-sim.js';

let closed: LoadResult;
let open: LoadResult;

test.before(async () => {
  // runs in virtual time against simulated devices (load-sim.ts) with different service times, so the
  // reports have several latency buckets and exact durations
  const clock = new VirtualClock();
  const serviceMs: Record<string, number> = { mem0: 1, mem1: 2, mem2: 3, mem3: 5, nvme0: 8, nvme1: 13 };
  const mux = new SimFleet(clock, { 'cxl-type3': 4, nvme: 2 }, (id) => ({ serviceMs: serviceMs[id] ?? 1 }));
  closed = await clock.run(runLoad({ mux, clock, durationMs: 250, warmupMs: 50, concurrency: 2, mix: 'health=3,identify=1', thresholds: ['p99<1ns', 'errors<1%'] }).result);
  open = await clock.run(runLoad({ mux, clock, durationMs: 250, warmupMs: 50, rate: 1000, intervalMs: 50, mix: 'health,log' }).result);
});

test('text table: latency row, throughput, per-command and per-kind rows, thresholds', () => {
  const t = formatLoadTable(closed);
  assert.match(t, /^mode closed, 2 callers, 0\.25 s, [\d,]+ requests/);
  assert.match(t, /p50\s+p90\s+p99\s+p99\.9\s+max\s+mean/);
  assert.match(t, /throughput\s+[\d,]+ requests\/s/);
  assert.match(t, /errors\s+none/);
  assert.match(t, /device rc\s+all Success/);
  assert.match(t, /by command\n.*count.*p50 µs.*p99 µs.*\nhealth\s+[\d,]+\s+0\s+[\d.]+\s+[\d.]+/);
  assert.match(t, /by device kind\n.*\ncxl-type3\s+[\d,]+/);
  assert.match(t, /thresholds\n {2}FAIL {2}p99<1ns {2}\(actual [\d.]+(us|ms)\)\n {2}PASS {2}errors<1% {2}\(actual 0%\)/);
  const o = formatLoadTable(open);
  assert.match(o, /^mode open, 1,000 requests\/s target, max 65,536 in flight \(peak \d+\), 0\.25 s, [\d,]+ requests/);
  assert.match(o, /\(from send\)\s+[\d.]+/);
  assert.match(o, /dropped\s+0/);
});

test('JSON: histograms as percentile curves + raw buckets; the result round-trips exactly', () => {
  for (const r of [closed, open]) {
    const text = loadResultToJSON(r);
    const j = JSON.parse(text) as LoadResultJSON;
    const h: HistogramJSON = j.histogram;
    assert.is(h.unit, 'ns');
    assert.is(h.total, r.requests);
    assert.is(h.buckets.reduce((n, b) => n + b[2], 0), r.requests, 'bucket counts add up to the total');
    assert.ok(h.buckets.every(([lo, hi, c]) => lo <= hi && c > 0));
    assert.ok(h.buckets.every((b, i) => i === 0 || b[0] > h.buckets[i - 1]![1]), 'buckets ascend without overlap');
    assert.is(h.percentiles.at(-1)![0], 100);
    assert.ok(h.percentiles.some(([p]) => Math.abs(p - 99.999) < 1e-9));
    assert.ok(j.byCommand.health!.histogram.buckets.length > 0);
    assert.ok(Array.isArray(j.percentiles), 'the old top-level percentile list is kept');
    const back = loadResultFromJSON(text);
    assert.instance(back.histogram, Histogram);
    for (const p of [0, 50, 90, 99, 99.9, 100]) assert.is(back.histogram.percentile(p), r.histogram.percentile(p));
    assert.is(back.byCommand.health!.histogram.total, r.byCommand.health!.requests);
    assert.is(loadResultToJSON(back), text, 'serialize(parse(serialize(r))) === serialize(r)');
    assert.is(back.serviceHistogram === undefined, r.mode === 'closed');
  }
  // histograms of two runs merge by adding bucket counts
  const a = Histogram.fromJSON(closed.histogram.toJSON());
  a.add(Histogram.fromJSON(JSON.parse(JSON.stringify(open.histogram)) as HistogramJSON));
  assert.is(a.total, closed.requests + open.requests);
  assert.is(a.max, Math.max(closed.histogram.max, open.histogram.max));
  assert.throws(() => Histogram.fromJSON({ ...closed.histogram.toJSON(), subBucketBits: 7 }), /layout/);
});

test('HTML: one self-contained file with inline SVG plots and no external references', () => {
  for (const r of [closed, open]) {
    const html = renderHtmlReport(r);
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<\/html>\n$/);
    const svgs = html.match(/<svg /g) ?? [];
    assert.ok(svgs.length >= 3, `${svgs.length} svg plots (latency over time, throughput, percentiles)`);
    assert.match(html, /<svg [^>]*aria-label="Latency per \d+ ms interval/);
    assert.match(html, /<svg [^>]*aria-label="Latency by percentile"/);
    assert.match(html, />99\.999%</, 'HDR percentile axis');
    assert.match(html, /<path d="M[\d.]+,[\d.]+ L/);
    assert.not.match(html, /\b(src|href|xlink:href)\s*=/i);
    assert.not.match(html, /<(script|link|img|iframe|object|embed)\b/i);
    assert.not.match(html, /https?:|url\(|@import/i);
    assert.match(html, /<h2>By command<\/h2>/);
  }
  assert.match(renderHtmlReport(open), /from send\(\) \(uncorrected\)/);
  assert.match(renderHtmlReport(closed), /<code>p99&lt;1ns<\/code><\/th><td>[\d.]+(us|ms)<\/td><td class="fail">FAIL/);
});

test('HTML: everything interpolated is escaped', () => {
  assert.is(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  const evil = '<script>alert("x")</script>';
  const r: LoadResult = {
    ...closed, mix: `health=1<img src=x onerror=alert(1)>`, errors: { [`E<b>"x"`]: 3 }, startedAt: evil,
    byCommand: { [evil]: closed.byCommand.health! }, deviceStatusByKind: { nvme: { 2: 1 } },
  };
  const html = renderHtmlReport(r, { title: `${evil} & co`, notes: [`--fleet /tmp/<evil>.json`] });
  assert.not.match(html, /<script|<img|<b>|<evil>/i);
  assert.match(html, /<title>&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; co<\/title>/);
  assert.match(html, /health=1&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.match(html, /error E&lt;b&gt;&quot;x&quot;/);
  assert.match(html, /\/tmp\/&lt;evil&gt;\.json/);
  assert.match(html, /Device status other than success/);
});

test.run();
