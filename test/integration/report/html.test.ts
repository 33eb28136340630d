/**
 * The HTML report in a real browser: a 1-run and a 3-run report of real runs, opened from the
 * file with the network blocked. No request, no console error, every chart drawn with data, and
 * a screenshot in test-output/ for people to look at. SCALPELS_DOC_IMAGES=1 also refreshes the
 * screenshots in docs/images/.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, writeScenario } from '../../helpers/cli.js';
import { countDrawnCharts, launchChromium, openReport } from './browser.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const OUT = join(ROOT, 'test-output');
const DOC_IMAGES = process.env.SCALPELS_DOC_IMAGES === '1';

const SCENARIO = `version: 1
name: report-demo
description: An idle window, a busy step of shell loops and a flaky step, with /proc and per-process tracers.
args:
  work: 15000
tracers:
  - use: proc
    interval: 200ms
steps:
  - name: idle
    workload: { use: sleep, with: { duration: 600ms } }
  - name: busy
    workload:
      use: exec
      with: { command: "i=0; while [ $i -lt {{work}} ]; do i=$((i+1)); done" }
    runner: { type: constant, times: 16, concurrency: 2 }
    tracers:
      - use: process
        interval: 200ms
        with: { name: sh }
  - name: flaky
    workload: { use: exec, with: { command: "sleep 0.02; [ $(( $(date +%N) % 3 )) -ne 0 ]" } }
    runner: { type: constant, times: 12, concurrency: 3 }
`;

describe('the HTML report in Chromium', () => {
  const dir = tempDir('scalpels-html-');
  const store = join(dir, 'store');
  const scenario = writeScenario(dir, SCENARIO);
  const ids: string[] = [];
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    for (const work of ['15000', '15000', '30000']) {
      const r = await runCli([
        'run',
        scenario,
        '--store-dir',
        store,
        '-q',
        '--json',
        '--arg',
        `work=${work}`,
      ]);
      expect(r.code, r.stderr).toBe(0);
      ids.push(JSON.parse(r.stdout).id);
    }
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
  });

  const cases = [
    // docAnchor: where the docs/images screenshot starts (the 1-run one shows a step's charts).
    { name: 'report-1-run', runs: () => [ids[0]], minCharts: 3 * 3 + 5, docAnchor: '#step-busy' },
    { name: 'report-3-runs', runs: () => ids, minCharts: 3 * 3 + 5, docAnchor: '' },
  ];

  for (const c of cases) {
    it(`${c.name}: no request, no console error, every chart drawn`, async () => {
      const file = join(dir, `${c.name}.html`);
      const r = await runCli(['report', ...c.runs(), '--store-dir', store, '-o', file]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(file);
      expect(readFileSync(file, 'utf8')).toContain('<!DOCTYPE html>');

      const visit = await openReport(browser, file);
      const { page } = visit;
      await page.waitForFunction(() => document.querySelectorAll('.chart[data-drawn]').length > 0);
      const charts = await countDrawnCharts(page);
      expect(visit.requests).toEqual([]);
      expect(visit.consoleErrors).toEqual([]);
      expect(charts.expected).toBeGreaterThanOrEqual(c.minCharts);
      expect(charts.drawn).toBe(charts.expected);
      expect(charts.withData).toBe(charts.expected);

      const text = (await page.locator('main').textContent()) ?? '';
      for (const heading of [
        'Overview',
        'Step idle',
        'Step busy',
        'Step flaky',
        'Timeline',
        'Scenario',
        'Environment',
      ]) {
        expect(text).toContain(heading);
      }
      expect(text).toMatch(/Failures/);
      if (c.runs().length > 1) {
        expect(text).toContain('baseline');
        expect(text).toMatch(/worse|better|no significant change/);
        // A closed section draws its charts when opened.
        const before = await countDrawnCharts(page);
        await page.locator('details.run-timeline').nth(1).locator('summary').click();
        await page.waitForFunction(
          (n) => document.querySelectorAll('.chart[data-drawn]').length > n,
          before.drawn,
        );
        expect((await countDrawnCharts(page)).drawn).toBeGreaterThan(before.drawn);
      }
      await page.screenshot({ path: join(OUT, `${c.name}.png`), fullPage: true });
      if (DOC_IMAGES) {
        mkdirSync(join(ROOT, 'docs/images'), { recursive: true });
        await page.setViewportSize({ width: 1200, height: 1500 });
        await page.evaluate((anchor) => {
          const el = anchor ? document.querySelector(anchor) : null;
          window.scrollTo(0, el ? el.getBoundingClientRect().top + window.scrollY - 110 : 0);
        }, c.docAnchor);
        await page.waitForTimeout(300);
        await page.screenshot({ path: join(ROOT, 'docs/images', `${c.name}.png`) });
      }
      expect(visit.requests).toEqual([]);
      expect(visit.consoleErrors).toEqual([]);
      await page.close();
    }, 120_000);
  }

  it('prints the same report for the same runs (reproducible statistics)', async () => {
    const a = join(dir, 'a.html');
    const b = join(dir, 'b.html');
    await runCli(['report', ...ids, '--store-dir', store, '-o', a]);
    await runCli(['report', ...ids, '--store-dir', store, '-o', b]);
    const strip = (s: string) => s.replace(/Generated [^ ]+ by/, '');
    expect(strip(readFileSync(a, 'utf8'))).toBe(strip(readFileSync(b, 'utf8')));
  });

  it('trends: every run of the scenario, each linked to its report', async () => {
    const file = join(dir, 'trends.html');
    const r = await runCli(['trends', '--scenario', 'report-demo', '--store-dir', store, '-o', file]);
    expect(r.code, r.stderr).toBe(0);
    const html = readFileSync(file, 'utf8');
    for (const id of ids) expect(html).toContain(`href="trends-runs/${id}.html"`);
    const visit = await openReport(browser, file);
    await visit.page.waitForFunction(() => document.querySelectorAll('.chart[data-drawn]').length > 0);
    const charts = await countDrawnCharts(visit.page);
    expect(visit.requests).toEqual([]);
    expect(visit.consoleErrors).toEqual([]);
    expect(charts.withData).toBe(charts.expected);
    await visit.page.screenshot({ path: join(OUT, 'trends.png'), fullPage: true });
    await visit.page.close();
    const missing = await runCli(['trends', '--scenario', 'nope', '--store-dir', store, '-o', file]);
    expect(missing.code).toBe(2);
  });
});
