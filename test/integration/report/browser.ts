/**
 * Debian's Chromium driven by playwright-core (no browser download): a report opened from its
 * file with every network request blocked and counted.
 */
import { type Browser, chromium, type Page } from 'playwright-core';

/** The flags that keep Chromium from reaching out on its own (component updates, sync, …). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
}

/** What a page did while loading a report. */
export interface PageVisit {
  page: Page;
  /** Requests other than the report file itself (network or other files): must be none. */
  requests: string[];
  consoleErrors: string[];
}

/** Opens `file` in a new page, blocking and recording every other request. */
export async function openReport(
  browser: Browser,
  file: string,
  viewport = { width: 1280, height: 900 },
): Promise<PageVisit> {
  const page = await browser.newPage({ viewport, deviceScaleFactor: 1 });
  const url = `file://${file}`;
  const visit: PageVisit = { page, requests: [], consoleErrors: [] };
  page.on('console', (m) => {
    if (m.type() === 'error') visit.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => visit.consoleErrors.push(String(e)));
  await page.route('**/*', (route) => {
    const u = route.request().url();
    if (u === url) return route.continue();
    visit.requests.push(u);
    return route.abort();
  });
  await page.goto(url, { waitUntil: 'load' });
  return visit;
}

/**
 * Charts that were drawn and hold data: a uPlot canvas with coloured pixels (axes and grid are
 * grey; series are drawn in the palette's colours).
 */
export function countDrawnCharts(page: Page): Promise<{ drawn: number; withData: number; expected: number }> {
  return page.evaluate(() => {
    const charts = [...document.querySelectorAll<HTMLElement>('.chart[data-drawn]')];
    let withData = 0;
    for (const chart of charts) {
      const canvas = chart.querySelector('canvas');
      const ctx = canvas?.getContext('2d');
      if (!canvas || !ctx || canvas.width === 0) continue;
      const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < px.length; i += 4) {
        const [r, g, b, a] = [px[i], px[i + 1], px[i + 2], px[i + 3]];
        if (a > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 60) {
          withData++;
          break;
        }
      }
    }
    const meta = document.querySelector('meta[name="scalpels-eager-charts"]')?.getAttribute('content');
    return { drawn: charts.length, withData, expected: Number(meta) };
  });
}
