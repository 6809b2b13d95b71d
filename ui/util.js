// Small helpers of the views: HTML escaping, the colours of tenants and workspaces, numbers
// and times, and a refresher that coalesces bursts of events into one reload.

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ESC[c]);
}

// A workspace's colour: a hue per tenant, a lightness per workspace within it, so that a
// tenant's workspaces look alike and tenants apart. wsNames: every workspace shown.
export function palette(wsNames) {
  const tenants = [...new Set(wsNames.map((w) => w.split('/')[0]))].sort();
  const byTenant = new Map(tenants.map((t) => [t, []]));
  for (const w of [...wsNames].sort()) byTenant.get(w.split('/')[0]).push(w);
  const colours = new Map();
  tenants.forEach((t, i) => {
    const hue = Math.round((i * 137.508 + 210) % 360);
    const list = byTenant.get(t);
    list.forEach((w, k) => {
      const light = list.length === 1 ? 45 : 32 + Math.round((k * 36) / (list.length - 1));
      colours.set(w, `hsl(${hue} 65% ${light}%)`);
    });
  });
  return (ws) => colours.get(ws) || 'hsl(0 0% 55%)';
}

// "tenant/ws" of a workload's full name "tenant/ws/name".
export function workspaceOf(workload) {
  const parts = String(workload).split('/');
  return parts.length >= 2 ? `${parts[0]}/${parts[1]}` : '';
}

export function num(q) {
  const n = Number(q);
  return Number.isFinite(n) ? n : 0;
}

export function fmt(n) {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

export function when(ms) {
  if (ms === null || ms === undefined) return '';
  const d = new Date(ms);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function workloadLink(name) {
  return `<a href="#/workload/${esc(name)}">${esc(name)}</a>`;
}

// Calls fn at most once per `ms`, and never twice at once: a burst of events becomes one
// reload, and the last event of a burst is always followed by one.
export function refresher(fn, ms = 250) {
  let timer = null;
  let running = false;
  let again = false;
  const run = async () => {
    timer = null;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await fn();
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = () => {
    if (!timer) timer = setTimeout(run, ms);
  };
  schedule.cancel = () => {
    clearTimeout(timer);
    timer = null;
  };
  return schedule;
}
