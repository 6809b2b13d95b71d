// Queue: the pending workloads (and those reclaiming GPUs) with their specific reasons, their positions in their
// workspace's queue and their tenant's, and estimated starts (from /why); and the newest
// decisions on top (the event stream, seeded with the newest workloads' states).
import { api, apiAll } from './api.js';
import { esc, when, workloadLink, refresher } from './util.js';

const WHY_MAX = 40; // estimated starts asked for the first this many

function decisionRow(ev) {
  const what = ev.workload ? workloadLink(ev.workload) : esc(ev.node || ev.workspace || '');
  const detail = ev.message || ev.reason || (ev.placement ? ev.placement.map((p) => p.node).join(', ') : '') || (ev.for ? `for ${ev.for}` : '');
  const t = ev.t ? when(ev.t * 1000) : when(ev.ms);
  return `<li class="ev-${esc(ev.event)}"><span class="muted">${esc(t)}</span> <b>${esc(ev.event)}</b> ${what} <span class="muted">${esc(detail)}${ev.for ? ` for ${esc(ev.for)}` : ''}</span></li>`;
}

export async function mount(view) {
  view.innerHTML = `<h2>Queue</h2>
<table class="queue"><thead><tr><th>workload</th><th>GPUs</th><th>position</th><th>reason</th><th>estimated start</th><th>submitted</th></tr></thead><tbody id="pending-rows"></tbody></table>
<p id="queue-empty" class="muted" hidden>Nothing waits.</p>
<h3>Newest decisions</h3><ul id="decisions" class="decisions"></ul>`;
  const rows = view.querySelector('#pending-rows');
  const decisions = view.querySelector('#decisions');

  async function load() {
    const [workspaces, queued, reclaiming] = await Promise.all([
      api('/v1/workspaces'), apiAll('/v1/workloads?state=pending'), apiAll('/v1/workloads?state=reclaiming')]);
    const pending = [...reclaiming, ...queued]; // reclaiming: waits for borrowed GPUs to drain
    const positions = new Map();
    await Promise.all(workspaces.items.filter((w) => w.usage.pending > 0).map(async (w) => {
      const p = await api(`/v1/workspaces/${w.name}/pending?limit=1000`).catch(() => ({ items: [] }));
      for (const it of p.items) positions.set(it.name, it.position);
    }));
    pending.sort((a, b) => (positions.get(a.name)?.tenant?.index ?? 1e9) - (positions.get(b.name)?.tenant?.index ?? 1e9) || a.submitted - b.submitted);
    const whys = await Promise.all(pending.slice(0, WHY_MAX).map((w) => api(`/v1/workloads/${w.name}/why`).catch(() => null)));
    rows.innerHTML = pending.map((w, i) => {
      const pos = positions.get(w.name);
      const why = whys[i];
      const start = why ? (why.estimated_start ? when(why.estimated_start) : `unknown${why.estimated_start_reason ? `: ${why.estimated_start_reason.replace(/^unknown:\s*/, '')}` : ''}`) : '';
      return `<tr data-workload="${esc(w.name)}"><td>${workloadLink(w.name)}</td><td>${esc(w.gpus)}${w.replicas > 1 ? ` × ${w.replicas}` : ''}</td>
<td data-field="position">${pos ? `${pos.workspace.index} of ${pos.workspace.of} in ${esc(w.workspace)}; ${pos.tenant.index} of ${pos.tenant.of} in ${esc(w.tenant)}` : ''}</td>
<td data-field="reason"><b>${esc(w.reason)}</b><br><span class="reason-message">${esc(w.reason_message || w.reason_text || '')}</span></td>
<td data-field="estimated-start">${esc(start)}</td><td>${esc(when(w.submitted))}</td></tr>`;
    }).join('');
    view.querySelector('#queue-empty').hidden = pending.length > 0;
    view.dataset.ready = String(Date.now());
  }

  // seed the decisions with the newest workloads as they stand
  const newest = await api('/v1/workloads?order=newest&limit=20');
  decisions.innerHTML = newest.items.map((w) => decisionRow({
    event: w.state, workload: w.name, ms: w.ended || w.started || w.submitted, message: w.reason_message,
  })).join('');
  await load();
  const again = refresher(load, 300);
  return {
    onEvent: (ev) => {
      decisions.insertAdjacentHTML('afterbegin', decisionRow(ev));
      while (decisions.children.length > 200) decisions.lastElementChild.remove();
      again();
    },
    dispose: () => again.cancel(),
  };
}
