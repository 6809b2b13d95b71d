// Cluster: every node as a tile with its GPUs (and MIG slices) coloured by the workspace of
// the workload that holds them; borrowed ones hatched, unhealthy ones crossed; draining, down
// and moving nodes marked. Filters by tenant, cluster and label. A legend counts each
// workspace's GPUs on the nodes shown.
import { api, apiAll } from './api.js';
import { esc, palette, workspaceOf, fmt, refresher } from './util.js';

const W = 16; // a GPU's box
const H = 22;
const GAP = 3;

// A MIG slice's place and charge on its GPU, from its profile ("3g.40gb": 3 of the 7 compute
// slices, 40 GB of the model's memory in eighths) and the model ("H100-80GB"): mem, the
// memory slices it spans from start (of 8, as the API's start counts them); share, what
// it is charged, the dominant of its compute and memory shares (docs/policy.md, MIG).
function sliceGeometry(slot, model) {
  const g = Math.min(7, Math.max(1, parseInt(slot.profile, 10) || 1));
  const gb = parseFloat(String(slot.profile).split('.')[1]) || 0;
  const total = parseFloat((/(\d+)\s*GB/i.exec(model || '') || [])[1]) || 80;
  const mem = Math.min(8, Math.max(1, Math.round(gb / (total / 8))));
  const start = Math.min(8 - mem, Math.max(0, slot.start | 0));
  return { mem, start, share: Math.max(g / 7, mem / 8) };
}

// A GPU's (or slice's) description, for its tooltip.
function gpuTip(gpu, slot, { borrowed, leaving }) {
  const who = (h) => (h ? `${h}${borrowed.has(h) ? ' (borrowed)' : ''}${leaving.has(h) ? ', being stopped' : ''}` : 'free');
  const sick = gpu.healthy === false ? ' UNHEALTHY' : '';
  if (slot) return `GPU ${gpu.index} ${gpu.model} slice ${slot.profile}@${slot.start}: ${who(slot.holder)}${sick}`;
  return `GPU ${gpu.index} ${gpu.model}${gpu.mig ? ' (MIG)' : `: ${who(gpu.holder)}`}${sick}`;
}

// The SVG of a node's GPUs: a box per GPU, a box per MIG slice inside its GPU. Tooltips are
// made on hover (tipOn), not here: 8,000 GPUs draw twice as fast without them.
function gpuRects(gpus, colour, borrowed, leaving) {
  let out = '';
  gpus.forEach((gpu, i) => {
    const x = i * (W + GAP);
    if (!gpu.mig) {
      const h = gpu.holder;
      const c = h ? colour(workspaceOf(h)) : '';
      const cls = h ? `gpu held${borrowed.has(h) ? ' borrowed' : ''}${leaving.has(h) ? ' leaving' : ''}` : 'gpu free';
      out += `<rect class="${cls}" data-g="${i}" x="${x}" y="0" width="${W}" height="${H}" rx="2"${h ? ` fill="${c}" stroke="${c}"` : ''}/>`;
    } else {
      out += `<rect class="gpu mig-frame" data-g="${i}" x="${x}" y="0" width="${W}" height="${H}" rx="2"/>`;
      gpu.mig.forEach((slot, k) => {
        const { mem, start } = sliceGeometry(slot, gpu.model);
        const holder = slot.holder;
        const c = holder ? colour(workspaceOf(holder)) : '';
        const cls = holder ? `slice held${borrowed.has(holder) ? ' borrowed' : ''}${leaving.has(holder) ? ' leaving' : ''}` : 'slice free';
        out += `<rect class="${cls}" data-g="${i}" data-s="${k}" x="${x + 2}" y="${(start * H) / 8 + 0.5}" width="${W - 4}" height="${(mem * H) / 8 - 1}"${holder ? ` fill="${c}" stroke="${c}"` : ''}/>`;
      });
    }
    if (gpu.healthy === false)
      out += `<path class="sick" d="M${x + 2} 2L${x + W - 2} ${H - 2}M${x + W - 2} 2L${x + 2} ${H - 2}"/>`;
  });
  return out;
}

function nodeTile(n, colour, borrowed, leaving) {
  const width = Math.max(1, n.gpus.length) * (W + GAP);
  const badges = [];
  if (n.state !== 'ready')
    badges.push(`<span class="badge state-${esc(n.state)}" title="${esc(n.reason || '')}">${esc(n.state)}${n.reason ? `: ${esc(n.reason)}` : ''}</span>`);
  if (n.moving)
    badges.push(`<span class="badge moving">moving to ${esc(n.moving.to ?? 'no tenant')} (waits for ${esc(n.moving.waits_for)})</span>`);
  const labels = Object.entries(n.labels || {}).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(' ');
  return `<div class="node state-${esc(n.state)}" data-node="${esc(n.name)}"><div class="node-head"><b>${esc(n.name)}</b> <span class="muted">${esc(n.tenant ?? '')} · ${esc(n.cluster)}${labels ? ` · ${labels}` : ''}</span> ${badges.join(' ')}</div><svg class="gpus" width="${width}" height="${H}" viewBox="0 0 ${width} ${H}">${gpuRects(n.gpus, colour, borrowed, leaving)}</svg></div>`;
}

// What the filters keep: tenant and cluster by name, label "key=value" or "key".
function keep(n, f) {
  if (f.tenant && n.tenant !== f.tenant) return false;
  if (f.cluster && n.cluster !== f.cluster) return false;
  if (f.label) {
    const [k, v] = f.label.split('=');
    const have = (n.labels || {})[k.trim()];
    if (have === undefined || (v !== undefined && have !== v.trim())) return false;
  }
  return true;
}

// GPUs per workspace on nodes: {held, borrowed} (a MIG slice counts its share).
function countByWorkspace(nodes, borrowed) {
  const counts = new Map();
  const add = (holder, share) => {
    const ws = workspaceOf(holder);
    const c = counts.get(ws) || { held: 0, borrowed: 0 };
    c.held += share;
    if (borrowed.has(holder)) c.borrowed += share;
    counts.set(ws, c);
  };
  for (const n of nodes)
    for (const g of n.gpus) {
      if (g.mig) for (const s of g.mig) { if (s.holder) add(s.holder, sliceGeometry(s, g.model).share); }
      else if (g.holder) add(g.holder, 1);
    }
  return counts;
}

function options(values, chosen, all) {
  return [`<option value="">${all}</option>`, ...values.map((v) => `<option${v === chosen ? ' selected' : ''}>${esc(v)}</option>`)].join('');
}

export async function mount(view) {
  const filter = { tenant: '', cluster: '', label: '' };
  let data = null;
  view.innerHTML = `<h2>Cluster</h2>
<div class="toolbar"><label>Tenant <select id="f-tenant"></select></label>
<label>Cluster <select id="f-cluster"></select></label>
<label>Label <input id="f-label" placeholder="key=value" size="14"></label>
<span id="cluster-summary" class="muted"></span></div>
<div class="legend-key"><svg width="200" height="16"><rect class="gpu held" x="0" y="1" width="12" height="14" fill="hsl(210 10% 45%)" stroke="hsl(210 10% 45%)"/><text x="16" y="12">guaranteed</text><rect class="gpu held borrowed" x="90" y="1" width="12" height="14" fill="hsl(210 10% 45%)" stroke="hsl(210 10% 45%)"/><text x="106" y="12">borrowed</text></svg>
<svg width="110" height="16"><rect class="gpu held leaving" x="0" y="1" width="12" height="14" fill="hsl(210 10% 45%)" stroke="hsl(210 10% 45%)"/><text x="16" y="12">being stopped</text></svg>
<svg width="150" height="16"><rect class="gpu free" x="0" y="1" width="12" height="14"/><text x="16" y="12">free</text><rect class="gpu free" x="60" y="1" width="12" height="14"/><path class="sick" d="M61 3L71 14M71 3L61 14"/><text x="76" y="12">unhealthy</text></svg></div>
<ul id="ws-legend" class="legend"></ul>
<div id="nodes" class="nodes"></div>`;
  const sel = (id) => view.querySelector(id);

  function draw() {
    const { nodes, workspaces, borrowed } = data;
    const colour = palette(workspaces.map((w) => w.name));
    const shown = nodes.filter((n) => keep(n, filter));
    const tenants = [...new Set(nodes.map((n) => n.tenant).filter(Boolean))].sort();
    const clusters = [...new Set(nodes.map((n) => n.cluster))].sort();
    sel('#f-tenant').innerHTML = options(tenants, filter.tenant, 'all');
    sel('#f-cluster').innerHTML = options(clusters, filter.cluster, 'all');
    const counts = countByWorkspace(shown, borrowed);
    const names = [...new Set([...workspaces.map((w) => w.name), ...counts.keys()])].sort();
    sel('#ws-legend').innerHTML = names
      .filter((w) => !filter.tenant || w.startsWith(`${filter.tenant}/`))
      .map((w) => {
        const c = counts.get(w) || { held: 0, borrowed: 0 };
        return `<li data-ws="${esc(w)}"><svg width="12" height="12"><rect width="12" height="12" fill="${colour(w)}"/></svg> ${esc(w)} <b class="gpus-held">${fmt(c.held)}</b> GPUs <span class="muted">(<span class="gpus-borrowed">${fmt(c.borrowed)}</span> borrowed)</span></li>`;
      })
      .join('');
    let total = 0;
    let used = 0;
    for (const n of shown) for (const g of n.gpus) { total++; if (g.holder || (g.mig && g.mig.some((s) => s.holder))) used++; }
    sel('#cluster-summary').textContent = `${shown.length} of ${nodes.length} nodes · ${used} of ${total} GPUs in use`;
    sel('#cluster-summary').dataset.used = String(used);
    const parts = new Array(shown.length);
    for (let i = 0; i < shown.length; i++) parts[i] = nodeTile(shown[i], colour, borrowed, data.leaving);
    sel('#nodes').innerHTML = parts.join('');
    view.dataset.ready = String(Date.now());
    performance.mark('cluster-rendered');
    // painted: the frame after the one that lays the tiles out (bench/bench_dashboard.py)
    requestAnimationFrame(() => setTimeout(() => performance.mark('cluster-painted')));
  }

  async function load() {
    const [nodes, workspaces, active] = await Promise.all([
      apiAll('/v1/nodes'),
      api('/v1/workspaces'),
      apiAll('/v1/workloads?state=active'),
    ]);
    performance.mark('cluster-data');
    const borrowed = new Set(active.filter((w) => w.borrowed).map((w) => w.name));
    // being stopped (preempted, reclaimed, cancelled): its GPUs are about to be free
    const leaving = new Set(active.filter((w) => w.state === 'draining').map((w) => w.name));
    const byName = new Map(nodes.map((n) => [n.name, n]));
    data = { nodes, byName, workspaces: workspaces.items, borrowed, leaving };
    draw();
  }

  // a GPU's tooltip, made when the pointer first comes over it
  sel('#nodes').addEventListener('mouseover', (e) => {
    const rect = e.target.closest('rect[data-g]');
    if (!rect || rect.firstElementChild || !data) return;
    const node = data.byName.get(rect.closest('.node').dataset.node);
    const gpu = node && node.gpus[Number(rect.dataset.g)];
    if (!gpu) return;
    const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
    title.textContent = gpuTip(gpu, rect.dataset.s !== undefined ? gpu.mig[Number(rect.dataset.s)] : null, data);
    rect.appendChild(title);
  });
  for (const [id, key] of [['#f-tenant', 'tenant'], ['#f-cluster', 'cluster'], ['#f-label', 'label']])
    sel(id).addEventListener(id === '#f-label' ? 'input' : 'change', (e) => {
      filter[key] = e.target.value;
      if (data) draw();
    });
  await load();
  const again = refresher(load, 300);
  return {
    onEvent: () => again(),
    dispose: () => again.cancel(),
  };
}
