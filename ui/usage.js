// Usage: GPU-hours per day over the last 14 days, guaranteed / borrowed / lost, from the
// GPU-hour ledger (GET /v1/usage), for every workspace shown or one; each workspace's totals
// over the period as bars; and the reclaims measured (GET /v1/usage/reclaims).
import { api } from './api.js';
import { esc, palette, refresher } from './util.js';

const DAYS = 14;
const CW = 640; // chart
const CH = 200;
const TOP = 24; // room for the unit above the axis

const hours = (s) => s / 3600;
const f2 = (h) => (h >= 100 ? h.toFixed(0) : h >= 1 ? h.toFixed(1) : h === 0 ? '0' : h.toPrecision(2));

function dayChart(items, from) {
  const byDay = new Map(items.map((i) => [i.day, i]));
  const days = [];
  for (let k = 0; k < DAYS; k++) days.push(new Date((from + k * 86400) * 1000).toISOString().slice(0, 10));
  const max = Math.max(0.001, ...items.map((i) => hours(i.gpu_seconds)));
  const bw = CW / DAYS;
  let out = `<svg class="chart" width="${CW + 60}" height="${CH + TOP + 30}" viewBox="0 0 ${CW + 60} ${CH + TOP + 30}">`;
  for (let t = 0; t <= 4; t++) {
    const y = CH - (t * CH) / 4 + TOP;
    out += `<line class="grid" x1="50" x2="${CW + 50}" y1="${y}" y2="${y}"/><text class="axis" x="45" y="${y + 4}" text-anchor="end">${f2((max * t) / 4)}</text>`;
  }
  days.forEach((d, k) => {
    const it = byDay.get(d);
    const x = 50 + k * bw + 3;
    if (it) {
      const g = (hours(it.guaranteed) / max) * CH;
      const b = (hours(it.borrowed) / max) * CH;
      const l = (hours(it.lost) / max) * CH;
      out += `<rect class="u-guaranteed" x="${x}" y="${CH + TOP - g}" width="${bw - 6}" height="${g}"><title>${d}: ${f2(hours(it.guaranteed))} GPU-h guaranteed</title></rect>`;
      out += `<rect class="u-borrowed" x="${x}" y="${CH + TOP - g - b}" width="${bw - 6}" height="${b}"><title>${d}: ${f2(hours(it.borrowed))} GPU-h borrowed</title></rect>`;
      out += `<rect class="u-lost" x="${x + (bw - 6) / 4}" y="${CH + TOP - l}" width="${(bw - 6) / 2}" height="${l}"><title>${d}: ${f2(hours(it.lost))} GPU-h lost (of the above)</title></rect>`;
    }
    if (k % 2 === 0 || k === DAYS - 1) out += `<text class="axis" x="${x + (bw - 6) / 2}" y="${CH + TOP + 18}" text-anchor="middle">${d.slice(5)}</text>`;
  });
  return `${out}<text class="axis" x="4" y="12">GPU-hours</text></svg>`;
}

export async function mount(view) {
  view.innerHTML = `<h2>Usage</h2>
<div class="toolbar"><label>Workspace <select id="u-ws"><option value="">all shown</option></select></label>
<span class="key u-guaranteed-key">guaranteed</span> <span class="key u-borrowed-key">borrowed</span> <span class="key u-lost-key">lost (preempted or failed node; part of the bar)</span></div>
<div id="u-chart"></div>
<h3>By workspace, last ${DAYS} days (GPU-hours)</h3>
<table class="usage"><thead><tr><th>workspace</th><th></th><th>total</th><th>guaranteed</th><th>borrowed</th><th>lost</th></tr></thead><tbody id="u-rows"></tbody></table>
<h3>Reclaims, last ${DAYS} days</h3>
<p id="u-reclaims" class="muted"></p>
<table class="usage"><thead><tr><th>reclaimer</th><th>started</th><th>waited</th></tr></thead><tbody id="u-reclaim-rows"></tbody></table>`;
  const select = view.querySelector('#u-ws');
  let chosen = '';

  async function load() {
    const now = Math.floor(Date.now() / 1000);
    const from = Math.floor(now / 86400) * 86400 - (DAYS - 1) * 86400;
    const ws = chosen ? `&workspace=${encodeURIComponent(chosen)}` : '';
    const [byDay, byWs, rec] = await Promise.all([
      api(`/v1/usage?by=day&from=${from}${ws}`),
      api(`/v1/usage?by=workspace&from=${from}`),
      api(`/v1/usage/reclaims?from=${from}${ws}`),
    ]);
    // how long reclaimers waited for borrowed GPUs to drain: the guarantee's real latency
    const s = (v) => (v === null ? '-' : `${v.toFixed(v >= 10 ? 0 : 2)} s`);
    const summary = view.querySelector('#u-reclaims');
    summary.dataset.count = String(rec.count);
    summary.textContent = rec.count
      ? `${rec.count} reclaim${rec.count === 1 ? '' : 's'}: median ${s(rec.median_seconds)}, p95 ${s(rec.p95_seconds)}, max ${s(rec.max_seconds)} from the reclaim's start to the reclaimer's`
      : 'No reclaim in this period.';
    view.querySelector('#u-reclaim-rows').innerHTML = rec.items.map((i) => `<tr data-workload="${esc(i.workload)}"><td><a href="#/workload/${esc(i.workload)}">${esc(i.workload)}</a></td><td>${esc(new Date(i.at * 1000).toISOString().slice(0, 19))}Z</td><td data-field="seconds">${s(i.seconds)}</td></tr>`).join('');
    view.querySelector('#u-chart').innerHTML = dayChart(byDay.items, from);
    const names = byWs.items.map((i) => i.workspace).sort();
    select.innerHTML = `<option value="">all shown</option>${names.map((n) => `<option${n === chosen ? ' selected' : ''}>${esc(n)}</option>`).join('')}`;
    const colour = palette(names);
    const max = Math.max(0.001, ...byWs.items.map((i) => i.gpu_seconds));
    view.querySelector('#u-rows').innerHTML = byWs.items.map((i) => {
      const w = (v) => Math.round((v / max) * 240);
      return `<tr data-ws="${esc(i.workspace)}"><td>${esc(i.workspace)}</td><td><svg width="244" height="14"><rect x="0" y="1" width="${w(i.guaranteed)}" height="12" fill="${colour(i.workspace)}"/><rect class="borrowed" x="${w(i.guaranteed)}" y="1" width="${w(i.borrowed)}" height="12" fill="${colour(i.workspace)}" stroke="${colour(i.workspace)}"/></svg></td>
<td data-field="total">${f2(hours(i.gpu_seconds))}</td><td>${f2(hours(i.guaranteed))}</td><td>${f2(hours(i.borrowed))}</td><td>${f2(hours(i.lost))}</td></tr>`;
    }).join('');
    view.dataset.ready = String(Date.now());
  }

  select.addEventListener('change', () => {
    chosen = select.value;
    load();
  });
  await load();
  // usage moves with every admission and end; a reload at most every 2 s is enough
  const again = refresher(load, 2000);
  return { onEvent: () => again(), dispose: () => again.cancel() };
}
