import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareLoaded, renderReport } from '../../../src/report/api.js';
import { jsonForScript } from '../../../src/report/html/helpers.js';
import { renderJunit } from '../../../src/report/junit.js';
import { renderMarkdown } from '../../../src/report/markdown.js';
import { loadRuns } from '../../../src/report/run-data.js';
import { MemoryStore } from '../../../src/store/memory-store.js';
import { writeRun } from './synthetic.js';

async function threeRuns() {
  const store = new MemoryStore();
  const steps = (m: number) => [
    { name: 'list', iterations: 30, medianMs: 10 },
    { name: 'create', iterations: 30, medianMs: m, failures: { 2: 'HTTP 503 <html>' } },
  ];
  const records = [
    await writeRun(store, {
      id: 'r-a',
      startMs: Date.UTC(2026, 0, 1),
      steps: steps(20),
      seed: 1,
      cpu: { h1: 30 },
      procstat: true,
    }),
    await writeRun(store, {
      id: 'r-b',
      startMs: Date.UTC(2026, 0, 2),
      steps: steps(20),
      seed: 2,
      cpu: { h1: 31 },
      procstat: true,
    }),
    await writeRun(store, {
      id: 'r-c',
      startMs: Date.UTC(2026, 0, 3),
      steps: steps(40),
      seed: 3,
      cpu: { h1: 50 },
      procstat: true,
    }),
  ];
  return loadRuns(store, records);
}

describe('HTML report', () => {
  it('is one self-contained file with every section, the baseline first', async () => {
    const runs = await threeRuns();
    const { html, model } = renderReport(runs, { now: new Date(0) });
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    // Nothing to fetch: no external script, stylesheet, image or font.
    expect(html).not.toMatch(/<(script|link|img|iframe)[^>]+(src|href)=["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/url\(\s*["']?https?:/i);
    expect(html).toContain('uPlot');
    for (const id of ['overview', 'step-list', 'step-create', 'timeline', 'scenario', 'environment'])
      expect(html).toContain(`id="${id}"`);
    expect(html).toContain('baseline');
    // Error messages are escaped, never markup.
    expect(html).toContain('HTTP 503 &lt;html&gt;');
    expect(model.comparison).toBe(true);
    const create = model.steps.find((s) => s.name === 'create')!;
    expect(create.significance.map((s) => s.verdict)).toEqual(['same', 'worse']);
    expect(create.failures).toHaveLength(3);
    expect(create.tracers.map((t) => t.measurement)).toEqual(['cpu', 'net', 'procstat']);
    // Charts: 3 iteration charts per step plus key tracer fields, and their data embedded.
    expect(create.charts).toHaveLength(3);
    expect(model.charts.length).toBeGreaterThan(10);
    expect(model.eagerCharts).toBeLessThan(model.charts.length); // the timelines of a comparison start closed
    const embedded = JSON.parse(
      /<script type="application\/json" id="scalpels-charts">(.*?)<\/script>/s.exec(html)![1],
    );
    expect(embedded).toHaveLength(model.charts.length);
  });

  it('lists hooks, setup and teardown from the run records, and tracer notices', async () => {
    const runs = (await threeRuns()).slice(0, 1);
    const startNs = String(BigInt(runs[0].originMs + 250) * 1_000_000n);
    runs[0].record.hooks = [
      { name: 'seed-db', phase: 'setup', startedAt: '', startNs, durationMs: 12, ok: true, output: 'ok' },
    ];
    runs[0].record.steps[1].hooks = [
      {
        name: 'restart',
        phase: 'hook',
        trigger: 'iteration 10',
        startedAt: '',
        startNs,
        durationMs: 5,
        ok: false,
        exitCode: 3,
        output: '',
      },
    ];
    runs[0].notices.push({ atMs: 10, tags: { server: 'db1', code: 'x' }, message: 'no performance_schema' });
    const { html, model } = renderReport(runs);
    expect(model.hooks.map((h) => [h.name, h.step, h.at, h.ok, h.detail])).toEqual([
      ['seed-db', '(run)', '+0.250 s', true, ''],
      ['restart', 'create', '+0.250 s', false, 'exit 3'],
    ]);
    expect(html).toContain('id="hooks"');
    expect(html).toContain('no performance_schema');
  });

  it('escapes JSON so that no value can close its script element', () => {
    expect(jsonForScript({ a: '</script><b>&' })).toBe('{"a":"\\u003c/script\\u003e\\u003cb\\u003e\\u0026"}');
  });

  it('uses a user template directory file by file over the defaults', async () => {
    const runs = (await threeRuns()).slice(0, 1);
    const dir = mkdtempSync(join(tmpdir(), 'scalpels-templates-'));
    mkdirSync(join(dir, 'partials'));
    writeFileSync(
      join(dir, 'partials', 'overview.hbs'),
      '<section id="overview"><h2>Custom overview of {{len runs}} run</h2></section>',
    );
    const { html } = renderReport(runs, { templatesDir: dir });
    expect(html).toContain('Custom overview of 1 run');
    expect(html).toContain('id="step-list"'); // the other partials are the defaults
    expect(() => renderReport(runs, { templatesDir: join(dir, 'missing') })).toThrow(/not a directory/);
  });
});

describe('JUnit and Markdown', () => {
  it('render one testcase per step × gate, and GitHub tables', async () => {
    const runs = await threeRuns();
    const result = compareLoaded(runs, { gates: ['duration:p(95):+10%', 'cpu.usage_active:avg:+20%'] });
    const xml = renderJunit(result, { timestamp: '2026-01-01T00:00:00.000Z', hostname: 'ci' });
    expect(xml.match(/<testcase /g)).toHaveLength(2 * 2 * 2);
    expect(xml.match(/<failure /g)!.length).toBe(result.failed);
    expect(xml).toContain('timestamp="2026-01-01T00:00:00"');
    expect(xml).toMatch(
      /<testcase name="create: duration:p\(95\):\+10%" classname="scalpels\.synthetic\.create"/,
    );
    const md = renderMarkdown(result);
    expect(md).toMatch(/^### Scalpels: synthetic \(❌ \d+ of 8 gate checks failed \(steps: [^)]+\)\)/);
    expect(md).toContain('| Step | Gate | Run | Baseline | Candidate | Change | p | Result |');
    expect(md).toMatch(/\| create \| `r-c` \| 30 \| 1 \|/);
  });
});
