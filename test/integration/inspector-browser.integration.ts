/**
 * The inspector page in a real headless Chromium (Debian's `chromium`, driven by puppeteer-core): for a host with two
 * remotes and a shared singleton it draws the federation graph and fills the tables, and a live update appears
 * without a reload (server-sent events). Saves a screenshot (docs/inspector.png is one, made with
 * FERRY_INSPECTOR_SCREENSHOT=docs/inspector.png). Skipped, saying so, only when no Chromium is installed.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import puppeteer from 'puppeteer-core';
import { startObservedHost } from '../helpers/observed-host.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((path) =>
  existsSync(path),
);

test('the page draws the graph and the tables, and shows a live update without a reload', async (t) => {
  if (!CHROMIUM) {
    t.skip('no Chromium at /usr/bin/chromium: `apt-get install chromium` (.ci/run installs it)');
    return;
  }
  await using observed = await startObservedHost();
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  const dir = mkdtempSync(join(tmpdir(), 'ferry-inspector-page-'));
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1500, height: 1100 });
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(String(error)));
    let navigations = 0;
    page.on('framenavigated', () => navigations++);
    await page.goto(observed.inspectorUrl, { waitUntil: 'load' });
    await page.waitForSelector('#graph svg g.node');
    // Strings: they run in the page (this file is type-checked without the DOM library).
    await page.waitForFunction("document.getElementById('live')?.textContent?.includes('live')");

    // The graph: one host, two remotes, one shared package, as drawn SVG nodes and edges.
    const graph = await page.$$eval('#graph svg g.node', (nodes) =>
      nodes.map((node) => `${node.getAttribute('class')}: ${node.querySelector('text.label')?.textContent}`),
    );
    assert.deepEqual(graph, [
      'node host: shopService',
      'node remote breaker-closed: authService',
      'node remote breaker-closed: billing',
      'node shared: semver',
    ]);
    assert.equal(await page.$$eval('#graph svg path.edge', (edges) => edges.length), 6);
    const box = await page.$eval('#graph svg', (svg) => svg.getBoundingClientRect().width);
    assert.ok(box > 300, `the graph is drawn at a visible size (${box}px)`);

    // The tables.
    const remotes = await page.$$eval('#remotes tr', (rows) =>
      rows.slice(1).map((row) => [...row.querySelectorAll('td')].slice(0, 4).map((td) => td.textContent)),
    );
    assert.deepEqual(remotes, [
      ['authService', '1.0.0', '3', 'network'],
      ['billing', '2.1.0', '5', 'network'],
    ]);
    const shared = await page.$eval('#shared', (table) => table.textContent ?? '');
    assert.match(shared, /semver/);
    assert.match(shared, /remote "authService" \(\.\/api\) → 7\.\d+\.\d+ from shopService/);
    assert.match(await page.$eval('#imports', (table) => table.textContent ?? ''), /billing\/api/);

    // A live update: the page shows it without a reload.
    const navigationsBefore = navigations;
    await observed.remotes[0]!.publish('1.1.0', 4);
    const [outcome] = await observed.host.update('authService');
    assert.equal(outcome!.status, 'activated');
    await page.waitForFunction(
      "document.querySelector('#remotes tr:nth-child(2) td:nth-child(2)')?.textContent === '1.1.0'",
      { timeout: 10_000 },
    );
    assert.match(await page.$eval('#events', (table) => table.textContent ?? ''), /update:activated/);
    assert.match(await page.$eval('#graph svg', (svg) => svg.textContent ?? ''), /1\.1\.0 · r4/);
    assert.equal(navigations, navigationsBefore, 'no reload');
    assert.deepEqual(problems, [], 'no console errors (CSP violations included)');

    const target = process.env['FERRY_INSPECTOR_SCREENSHOT']
      ? resolve(process.env['FERRY_INSPECTOR_SCREENSHOT'])
      : join(dir, 'inspector.png');
    await page.screenshot({ path: target as `${string}.png`, fullPage: true });
    const png = readFileSync(target);
    assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
    t.diagnostic(`screenshot: ${target} (${png.byteLength} bytes)`);
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
