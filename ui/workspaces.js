// Workspaces: per workspace its reservation, limit, and the GPUs it holds, guaranteed
// (within its reservation) and borrowed (above it) as bars; the idle part of its reservation
// (lendable to the tenant's other workspaces when lend is on); its pending count with the
// main reasons; its weight.
import { api } from './api.js';
import { esc, palette, num, fmt, refresher } from './util.js';

const BAR = 320;

function bars(w, colour, scale) {
  const u = w.usage;
  const x = (v) => Math.round((Math.min(v, scale) / scale) * BAR * 10) / 10;
  const g = num(u.gpu_guaranteed);
  const b = num(u.gpu_borrowed);
  const r = num(w.reserved.gpu);
  const limit = w.limits.gpu === 'none' ? null : num(w.limits.gpu);
  const c = colour(w.name);
  return `<svg class="bars" width="${BAR + 2}" height="34" viewBox="0 0 ${BAR + 2} 34">
<rect class="track" x="0" y="2" width="${limit === null ? BAR : x(limit)}" height="12"/>
<rect class="held" x="0" y="2" width="${x(g)}" height="12" fill="${c}"><title>guaranteed ${fmt(g)}</title></rect>
<rect class="held borrowed" x="${x(g)}" y="2" width="${x(b)}" height="12" fill="${c}" stroke="${c}"><title>borrowed ${fmt(b)}</title></rect>
<rect class="track" x="0" y="19" width="${x(r)}" height="12"/>
<rect class="reserved-used" x="0" y="19" width="${x(Math.min(g, r))}" height="12" fill="${c}"><title>reserved and in use ${fmt(Math.min(g, r))}</title></rect>
${r > g ? `<rect class="${w.lend ? 'lendable' : 'idle'}" x="${x(g)}" y="19" width="${x(r) - x(g)}" height="12"><title>reserved, idle${w.lend ? ' (lendable)' : ' (not lent)'} ${fmt(r - g)}</title></rect>` : ''}
${limit !== null ? `<line class="limit" x1="${x(limit)}" x2="${x(limit)}" y1="0" y2="16"/>` : ''}
</svg>`;
}

function reasonsOf(pending) {
  const counts = new Map();
  for (const p of pending) counts.set(p.reason, (counts.get(p.reason) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]);
}

export async function mount(view) {
  view.innerHTML = `<h2>Workspaces</h2>
<p class="muted">Top bar: GPUs held, <span class="key solid">guaranteed</span> then <span class="key hatched">borrowed</span>, against the limit (the line). Bottom bar: the reservation, in use and <span class="key lendable-key">idle (lendable)</span>.</p>
<table class="workspaces"><thead><tr><th>workspace</th><th>GPUs</th><th>reserved</th><th>limit</th><th>held</th><th>guaranteed</th><th>borrowed</th><th>idle reserved</th><th>pending</th><th>weight</th></tr></thead><tbody id="ws-rows"></tbody></table>`;
  const body = view.querySelector('#ws-rows');

  async function load() {
    const { items } = await api('/v1/workspaces');
    const pending = await Promise.all(
      items.map((w) => (w.usage.pending > 0
        ? api(`/v1/workspaces/${w.name}/pending?limit=1000`).then((p) => p.items).catch(() => [])
        : Promise.resolve([]))),
    );
    const colour = palette(items.map((w) => w.name));
    const scale = Math.max(1, ...items.map((w) => Math.max(
      num(w.reserved.gpu), num(w.usage.gpu_held), w.limits.gpu === 'none' ? 0 : num(w.limits.gpu))));
    body.innerHTML = items.map((w, i) => {
      const u = w.usage;
      const r = num(w.reserved.gpu);
      const idle = Math.max(0, r - num(u.gpu_guaranteed));
      const reasons = reasonsOf(pending[i]);
      return `<tr data-ws="${esc(w.name)}">
<td><b>${esc(w.name)}</b></td><td>${bars(w, colour, scale)}</td>
<td data-field="reserved">${esc(w.reserved.gpu)}</td><td data-field="limit">${esc(w.limits.gpu)}</td>
<td data-field="held">${esc(u.gpu_held)}</td><td data-field="guaranteed">${esc(u.gpu_guaranteed)}</td>
<td data-field="borrowed">${esc(u.gpu_borrowed)}</td><td data-field="idle">${fmt(idle)}${w.lend ? '' : ' (not lent)'}</td>
<td data-field="pending">${u.pending}${reasons.length ? `<ul class="reasons">${reasons.slice(0, 3).map(([r2, n]) => `<li>${n} × ${esc(r2)}</li>`).join('')}</ul>` : ''}</td>
<td data-field="weight">${esc(w.weight)}</td></tr>`;
    }).join('');
    view.dataset.ready = String(Date.now());
  }

  await load();
  const again = refresher(load, 300);
  return { onEvent: () => again(), dispose: () => again.cancel() };
}
