// The browser side of bench/bench_dashboard.py: Debian's chromium headless (puppeteer-core
// from tests/browser/node_modules), logged in by putting the token in session storage before
// the page loads. Prints the figures.
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'tests', 'browser', 'package.json'));
const puppeteer = require('puppeteer-core');
const URL_BASE = process.env.ALLOT_URL;
const ADMIN = process.env.ADMIN_TOKEN;
const RUNS = 5;

const stdin = readline.createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();

async function apiGet(p) {
  const r = await fetch(URL_BASE + p, { headers: { Authorization: `Bearer ${ADMIN}` } });
  return r.json();
}

// The id of the last stored event after `after`, paging on.
async function lastEventId(after) {
  let last = after;
  for (;;) {
    const page = await apiGet(`/v1/events?format=json&limit=1000&after=${last}`);
    if (page.items.length) last = page.items[page.items.length - 1].id;
    if (page.next === undefined || page.next === null) return last;
    last = Math.max(last, page.next);
  }
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function main() {
  const args = ['--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'];
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  const browser = await puppeteer.launch({ executablePath: process.env.CHROMIUM, headless: true, args, defaultViewport: { width: 1600, height: 1000 } });
  const pid = browser.process()?.pid;
  try {
    const data = [];
    const rendered = [];
    const painted = [];
    let page;
    for (let i = 0; i < RUNS; i++) {
      if (page) await page.close();
      page = await browser.newPage();
      await page.evaluateOnNewDocument((t) => sessionStorage.setItem('allot.token', t), ADMIN);
      await page.goto(`${URL_BASE}/ui/#/cluster`);
      await page.waitForFunction(() => performance.getEntriesByName('cluster-painted').length > 0, { timeout: 30000 });
      const [a, r, p] = await page.evaluate(() => ['cluster-data', 'cluster-rendered', 'cluster-painted'].map((m) => performance.getEntriesByName(m)[0].startTime));
      data.push(a);
      rendered.push(r);
      painted.push(p);
    }
    if (process.env.TRACE)
      console.log(await page.evaluate(() => JSON.stringify(performance.getEntriesByType('resource').map((e) => [e.name.replace(/^https?:..[^/]+/, ''), Math.round(e.startTime), Math.round(e.responseEnd)]).concat(performance.getEntriesByType('navigation').map((e) => ['nav', Math.round(e.responseEnd), Math.round(e.domContentLoadedEventEnd)])))));
    const tiles = await page.$$eval('#nodes .node', (n) => n.length);
    const boxes = await page.$$eval('#nodes rect.gpu', (n) => n.length);
    console.log(`cluster page: ${tiles} nodes, ${boxes} GPUs drawn`);
    console.log(`cluster page, navigation to data fetched: median ${median(data).toFixed(0)} ms, max ${Math.max(...data).toFixed(0)} ms`);
    console.log(`cluster page, navigation to rendered: median ${median(rendered).toFixed(0)} ms, max ${Math.max(...rendered).toFixed(0)} ms (${RUNS} loads)`);
    console.log(`cluster page, navigation to painted:  median ${median(painted).toFixed(0)} ms, max ${Math.max(...painted).toFixed(0)} ms`);

    // the burst: wait for the stream to be up, then let the driver submit
    await page.waitForFunction(() => !document.getElementById('live').classList.contains('off'));
    const before = await lastEventId(0);
    console.log('burst');
    await lines.next(); // "sent"
    const sent = Date.now();
    const last = await lastEventId(before);
    const nodes = [];
    for (let next = -1; next !== undefined;) { // every page (docs/api.md, "Pages")
      const page = await apiGet(`/v1/nodes?limit=1000&after=${next}`);
      nodes.push(...page.items);
      next = page.next;
    }
    const inUse = nodes.reduce((s, n) => s + n.gpus.filter((g) => g.holder).length, 0);
    await page.waitForFunction((id, used) => Number(document.getElementById('live').dataset.lastId) >= id
      && Number(document.getElementById('cluster-summary').dataset.used) === used, { timeout: 60000, polling: 50 }, last, inUse);
    const caught = Date.now() - sent;
    const count = await page.$eval('#live-count', (e) => Number(e.textContent));
    console.log(`burst: ${last - before} events; the page had them all and showed ${inUse} GPUs in use ${caught} ms after the last submission was answered (${count} events received in all)`);
  } finally {
    await browser.close().catch(() => {});
    if (pid) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
