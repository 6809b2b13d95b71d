// The dashboard in a real browser: Debian's chromium, headless, driven through the DevTools
// protocol by puppeteer-core. Run by dashboard_test.py, which starts allotd and sets up the
// scene (two tenants, a reclaim, a pending workload); this checks what each page shows
// against the API, a live update, and that a tenant's user sees nothing of the other tenant.
// Screenshots of each page go to $SHOTS. Chromium runs with --no-sandbox when run as root
// (its sandbox refuses root). Exit 0: every check held.
import puppeteer from 'puppeteer-core';
import fs from 'node:fs';
import path from 'node:path';

const URL_BASE = process.env.ALLOT_URL;
const ADMIN = process.env.ADMIN_TOKEN;
const BETA = process.env.BETA_TOKEN;
const SHOTS = process.env.SHOTS;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const T = 15000;

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

async function apiGet(p, token = ADMIN) {
  const r = await fetch(URL_BASE + p, { headers: { Authorization: `Bearer ${token}` } });
  if (!r.ok) throw new Error(`GET ${p}: ${r.status}`);
  return r.json();
}

async function apiPost(p, body, token = ADMIN) {
  const r = await fetch(URL_BASE + p, {
    method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  if (r.status >= 300) throw new Error(`POST ${p}: ${r.status} ${await r.text()}`);
  return r.json();
}

// Go to view hash and wait until the page has drawn it (data-ready set after the hash change).
async function open(page, hash) {
  const before = Date.now();
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForFunction((b) => {
    const v = document.getElementById('view');
    return v && Number(v.dataset.ready || 0) >= b;
  }, { timeout: T }, before - 5);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function login(page, token) {
  await page.goto(`${URL_BASE}/ui/`, { waitUntil: 'load' });
  await page.waitForSelector('#login:not([hidden]) #token', { timeout: T });
  await page.type('#token', token);
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => Number(document.getElementById('view').dataset.ready || 0) > 0, { timeout: T });
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const args = ['--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--window-size=1280,900'];
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args, defaultViewport: { width: 1280, height: 900 } });
  const pid = browser.process()?.pid;
  try {
    await run(browser);
  } finally {
    await browser.close().catch(() => {});
    if (pid) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  }
}

async function run(browser) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  // -- login: a bad token is refused, a good one is kept in session storage, never a URL
  await page.goto(`${URL_BASE}/ui`, { waitUntil: 'load' });
  check(page.url() === `${URL_BASE}/ui/`, `/ui redirects to /ui/ (${page.url()})`);
  await page.waitForSelector('#login:not([hidden]) #token', { timeout: T });
  await shot(page, '0-login');
  await page.type('#token', 'allot_0123456789abcdef_0000000000000000000000000000000000000000');
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('login-error').textContent.length > 0, { timeout: T });
  check(await page.$eval('#login', (e) => !e.hidden), 'an unknown token stays on the login form');
  errors.length = 0; // the refused token's 401, as it should be
  await login(page, ADMIN);
  const stored = await page.evaluate(() => sessionStorage.getItem('allot.token'));
  check(stored === ADMIN, 'the token is in session storage');
  check(!page.url().includes(ADMIN) && !page.url().includes('allot_'), 'the token is not in the URL');
  check(await page.evaluate(() => localStorage.length === 0 && document.cookie === ''), 'nor in local storage or a cookie');

  // -- cluster: GPUs per workspace as the API counts them
  await open(page, '#/cluster');
  const ws = (await apiGet('/v1/workspaces')).items;
  const legend = await page.$$eval('#ws-legend li', (lis) => Object.fromEntries(lis.map((li) => [li.dataset.ws, { held: li.querySelector('.gpus-held').textContent, borrowed: li.querySelector('.gpus-borrowed').textContent }])));
  for (const w of ws)
    check(legend[w.name] && Math.abs(Number(legend[w.name].held) - Number(w.usage.gpu_held)) < 0.01 && Math.abs(Number(legend[w.name].borrowed) - Number(w.usage.gpu_borrowed)) < 0.01,
      `cluster: ${w.name} holds ${w.usage.gpu_held} GPUs (${w.usage.gpu_borrowed} borrowed): page ${JSON.stringify(legend[w.name])}`);
  const nodes = (await apiGet('/v1/nodes')).items;
  check(await page.$$eval('#nodes .node', (n) => n.length) === nodes.length, `cluster: ${nodes.length} node tiles`);
  check(await page.$$eval('#nodes rect.gpu', (r) => r.length) === nodes.reduce((s, n) => s + n.gpus.length, 0), 'cluster: one box per GPU');
  const draining = await page.$eval('[data-node="gpu-c"] .badge', (b) => b.textContent).catch(() => '');
  check(draining.includes('draining') && draining.includes('PSU <img src=x id=xss>'), `cluster: the drained node is marked with its reason, as text (${draining})`);
  check(await page.$('#xss') === null, 'cluster: markup in a reason is not markup');
  const slices = await page.$$eval('[data-node="beta-1"] rect.slice', (r) => r.map((x) => x.getAttribute('class')));
  check(slices.length === 2 && slices.filter((c) => c.includes('held')).length === 1, `cluster: beta-1's MIG GPU shows its two slices, one held (${slices.join(' | ')})`);
  await shot(page, '1-cluster');
  await page.type('#f-label', 'rack=b7');
  check(await page.$$eval('#nodes .node', (n) => n.map((x) => x.dataset.node).join(',')) === 'beta-1', 'cluster: the label filter keeps rack=b7');
  await page.$eval('#f-label', (e) => { e.value = ''; e.dispatchEvent(new Event('input')); });
  await page.select('#f-tenant', 'beta');
  check(await page.$$eval('#nodes .node', (n) => n.map((x) => x.dataset.node).join(',')) === nodes.filter((n) => n.tenant === 'beta').map((n) => n.name).join(','), 'cluster: the tenant filter keeps beta\'s nodes');

  // -- workspaces: the bars' numbers are the API's
  await open(page, '#/workspaces');
  for (const w of ws) {
    const row = await page.$$eval(`tr[data-ws="${w.name}"] td[data-field]`, (tds) => Object.fromEntries(tds.map((td) => [td.dataset.field, td.firstChild ? td.firstChild.textContent.trim() : ''])));
    check(row.reserved === w.reserved.gpu && row.limit === w.limits.gpu && row.held === w.usage.gpu_held && row.guaranteed === w.usage.gpu_guaranteed && row.borrowed === w.usage.gpu_borrowed && Number(row.pending) === w.usage.pending && Number(row.weight) === w.weight,
      `workspaces: ${w.name} ${JSON.stringify(row)}`);
  }
  await shot(page, '2-workspaces');

  // -- queue: the pending workload's specific reason and position
  await open(page, '#/queue');
  const why = await apiGet('/v1/workloads/acme/research/r2/why');
  const qrow = await page.$eval('tr[data-workload="acme/research/r2"]', (tr) => ({
    reason: tr.querySelector('.reason-message').textContent, position: tr.querySelector('[data-field=position]').textContent,
    start: tr.querySelector('[data-field=estimated-start]').textContent,
  })).catch(() => null);
  check(qrow && qrow.reason === why.message, `queue: r2's reason is the API's sentence (${qrow && qrow.reason})`);
  check(qrow && qrow.position.startsWith(`${why.position.workspace.index} of ${why.position.workspace.of} in acme/research`), `queue: r2's position (${qrow && qrow.position})`);
  check(qrow && qrow.start.startsWith('unknown'), `queue: r2's estimated start (${qrow && qrow.start})`);
  await shot(page, '3-queue');

  // -- live: a submission over HTTP appears without a reload
  await page.evaluate(() => { window.notReloaded = true; });
  await apiPost('/v1/workloads', { workspace: 'acme/research', name: 'live-1', gpus: 8 });
  const appeared = await page.waitForSelector('tr[data-workload="acme/research/live-1"]', { timeout: T }).then(() => true, () => false);
  check(appeared, 'live: a workload submitted over HTTP appears on the queue');
  check(await page.evaluate(() => window.notReloaded === true), 'live: without a reload');
  check(await page.$eval('#decisions', (d) => d.firstElementChild.textContent.includes('acme/research/live-1')), 'live: the newest decision is on top');

  // -- workload: the timeline of a reclaim
  await open(page, '#/workload/acme/research/r2');
  const tl = await page.$$eval('#timeline li', (lis) => lis.map((li) => li.dataset.event));
  const seq = ['submitted', 'admitted', 'preempting', 'stopped', 'queued'];
  let at = 0;
  for (const e of tl) if (e === seq[at]) at++;
  check(at === seq.length, `workload: r2's timeline has ${seq.join(', ')} in order (${tl.join(', ')})`);
  check((await page.$eval('[data-field=state]', (d) => d.textContent)).startsWith('pending'), 'workload: r2 is pending');
  await shot(page, '4-workload-borrower');
  await open(page, '#/workload/acme/prod/p1');
  const tl2 = await page.$$eval('#timeline li', (lis) => lis.map((li) => li.dataset.event));
  check(tl2.includes('admitted') && (await page.$eval('[data-field=placement]', (d) => d.textContent)).includes('GPUs'), `workload: the reclaimer p1 was admitted and placed (${tl2.join(', ')})`);
  await shot(page, '5-workload-reclaimer');

  // -- usage
  await open(page, '#/usage');
  const usage = (await apiGet('/v1/usage?by=workspace')).items;
  const urows = await page.$$eval('#u-rows tr', (trs) => trs.map((tr) => tr.dataset.ws));
  check(usage.length > 0 && usage.every((u) => urows.includes(u.workspace)), `usage: a row per workspace the ledger has (${urows.join(', ')})`);
  check(await page.$$eval('#u-chart rect.u-borrowed', (r) => r.some((x) => Number(x.getAttribute('height')) > 0)), 'usage: today\'s borrowed GPU-hours are drawn');
  const rec = await apiGet('/v1/usage/reclaims');
  const shown = await page.$eval('#u-reclaims', (p) => Number(p.dataset.count));
  const listed = await page.$$eval('#u-reclaim-rows tr', (trs) => trs.map((tr) => tr.dataset.workload));
  check(rec.count >= 1 && shown === rec.count && listed.includes('acme/prod/p1'), `usage: the reclaim for p1 is measured and shown (${shown} on the page, ${rec.count} by the API: ${listed.join(', ')})`);
  await shot(page, '6-usage');
  check(errors.length === 0, `no script errors (${errors.join(' | ')})`);

  // -- a tenant's user: nothing of the other tenant anywhere in the DOM, on any page
  const ctx = await browser.createBrowserContext();
  const beta = await ctx.newPage();
  await login(beta, BETA);
  const forbidden = ['acme', 'gpu-a', 'gpu-b', 'gpu-c', 'research', 'prod', 'live-1'];
  for (const h of ['#/cluster', '#/workspaces', '#/queue', '#/usage', '#/workload/beta/lab/b1']) {
    await open(beta, h);
    const html = await beta.content();
    const seen = forbidden.filter((f) => html.includes(f));
    check(seen.length === 0, `tenant beta on ${h} sees nothing of acme (${seen.join(', ')})`);
    check(html.includes('beta'), `tenant beta on ${h} sees its own`);
    if (h === '#/cluster') await shot(beta, '7-tenant-beta-cluster');
  }
  await open(beta, '#/queue');
  await apiPost('/v1/workloads', { workspace: 'acme/research', name: 'live-2', gpus: 8 });
  await apiPost('/v1/workloads', { workspace: 'beta/lab', name: 'b-live', gpus: 1 });
  check(await beta.waitForFunction(() => document.getElementById('decisions').textContent.includes('beta/lab/b-live'), { timeout: T }).then(() => true, () => false), 'tenant beta follows its own live updates');
  check(!(await beta.content()).includes('acme'), 'and none of acme\'s');
  // a workload of acme by its name: the API answers 404, the page shows nothing of it
  await beta.evaluate(() => { location.hash = '#/workload/acme/research/r2'; });
  await beta.waitForSelector('#view .error', { timeout: T });
  check(!(await beta.$eval('#view', (v) => v.textContent)).includes('preempting'), 'tenant beta cannot open acme\'s workload');
  // log out: the token leaves session storage
  await beta.click('#logout');
  check(await beta.evaluate(() => sessionStorage.getItem('allot.token') === null && !document.getElementById('login').hidden), 'log out forgets the token');
  // a token revoked while the page is open: the next request sends it back to the login form
  await login(beta, BETA);
  const id = BETA.split('_')[1];
  const del = await fetch(`${URL_BASE}/v1/tokens/${id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${ADMIN}` } });
  check(del.ok, `the beta token is revoked (${del.status})`);
  await beta.evaluate(() => { location.hash = '#/workspaces'; });
  check(await beta.waitForFunction(() => !document.getElementById('login').hidden && sessionStorage.getItem('allot.token') === null, { timeout: T }).then(() => true, () => false), 'a revoked token goes back to the login form, forgotten');
  await ctx.close();
}

main().then(() => {
  console.log(failures ? `${failures} check(s) failed` : 'every check held');
  process.exit(failures ? 1 : 0);
}, (e) => {
  console.error(e);
  process.exit(1);
});
