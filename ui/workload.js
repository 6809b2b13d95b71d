// Workload: its timeline of events (submitted, queued, admitted, preempting, stopped, ...),
// its state, placement and exit, and its output's tail, followed live.
import { api } from './api.js';
import { esc, when, refresher } from './util.js';

const EVENT_PAGES = 30; // stored events scanned for the timeline from its start: 30 pages
const TAIL = 64 * 1024; // the output kept on the page

function detail(ev) {
  const bits = [];
  if (ev.reason) bits.push(ev.reason);
  if (ev.for) bits.push(`for ${ev.for}`);
  if (ev.placement) bits.push(`on ${ev.placement.map((p) => `${p.node} [${(p.gpus || []).join(',')}]`).join(' ')}`);
  if (ev.borrowed) bits.push('borrowed');
  if (ev.deadline) bits.push(`deadline ${when(ev.deadline * 1000)}`);
  if (ev.message) bits.push(ev.message);
  if (ev.code !== undefined) bits.push(`exit ${ev.code}`);
  return bits.join(' · ');
}

function timelineRow(ev) {
  return `<li class="ev-${esc(ev.event)}" data-event="${esc(ev.event)}"><span class="muted">${esc(when(ev.t * 1000))}</span> <b>${esc(ev.event)}</b> <span>${esc(detail(ev))}</span></li>`;
}

// The first visible stored event after id `after` ({id, t}, or null: none within the rows
// one page looks at), and the last id issued.
async function probe(after) {
  const page = await api(`/v1/events?format=json&limit=1&after=${after}`);
  return { ev: page.items[0] || null, last: page.last };
}

// Where the events of a workload submitted at submittedMs start: an id shortly before its
// first, found by bisecting the stored events by their time (the pages come oldest first,
// and a long-lived daemon keeps 30 days of them). RET an `after` for the scan.
async function startOf(submittedMs) {
  let lo = 0;
  let hi = (await probe(0)).last;
  const target = submittedMs / 1000 - 1;
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2);
    const { ev } = await probe(mid);
    if (ev && ev.t >= target) hi = mid;
    else lo = ev ? Math.min(Math.max(mid, ev.id), hi - 1) : mid;
  }
  return lo;
}

// The stored events of workload name (submitted at submittedMs), oldest first: the
// EVENT_PAGES pages from where its events start.
async function storedEvents(name, submittedMs) {
  const out = [];
  let after = await startOf(submittedMs);
  for (let i = 0; i < EVENT_PAGES; i++) {
    const page = await api(`/v1/events?format=json&limit=1000&after=${after}`);
    for (const ev of page.items) if (ev.workload === name) out.push(ev);
    if (page.next === undefined || page.next === null) break;
    after = page.next;
  }
  return out;
}

export async function mount(view, parts) {
  const name = parts.join('/');
  view.innerHTML = `<h2>Workload <span id="wl-name">${esc(name)}</span></h2>
<div class="workload-facts" id="wl-facts"></div>
<h3>Timeline</h3><ol id="timeline" class="timeline"></ol>
<h3>Output <span id="out-note" class="muted"></span></h3><pre id="output" class="output"></pre>`;
  const facts = view.querySelector('#wl-facts');
  const timeline = view.querySelector('#timeline');
  const output = view.querySelector('#output');
  let offset = 0;
  let attempt = null;
  let running = false;

  async function loadView() {
    const w = await api(`/v1/workloads/${name}`);
    running = w.state === 'running' || w.state === 'draining';
    const placement = (w.placement || []).map((p) => `${esc(p.node)} GPUs ${esc((p.gpus || []).join(', '))}`).join('; ');
    facts.innerHTML = `<dl>
<dt>state</dt><dd data-field="state"><b>${esc(w.state)}</b>${w.reason ? ` (${esc(w.reason)})` : ''}</dd>
${w.reason_message ? `<dt>why</dt><dd data-field="reason">${esc(w.reason_message)}</dd>` : ''}
<dt>GPUs</dt><dd>${esc(w.gpus)}${w.replicas > 1 ? ` × ${w.replicas} replicas` : ''}${w.mig ? ` (${esc(w.mig)})` : ''}${w.borrowed ? ' · borrowed' : ''}</dd>
<dt>placement</dt><dd data-field="placement">${placement || '—'}</dd>
<dt>submitted</dt><dd>${esc(when(w.submitted))} by ${esc(w.user || '')}</dd>
<dt>started</dt><dd>${esc(when(w.started)) || '—'}</dd>
<dt>ended</dt><dd>${esc(when(w.ended)) || '—'}</dd>
<dt>exit</dt><dd data-field="exit">${w.exit ? esc(JSON.stringify(w.exit)) : '—'}</dd>
<dt>attempts</dt><dd>${esc(w.attempts)}</dd></dl>`;
  }

  async function loadOutput() {
    const { text, headers } = await api(`/v1/workloads/${name}/logs?offset=${offset}`, { as: 'text' }).catch(() => ({ text: '', headers: new Headers() }));
    const at = headers.get('X-Allot-Attempt');
    if (attempt !== null && at !== null && at !== attempt) {
      output.textContent = '';
      offset = 0;
    }
    attempt = at;
    const next = Number(headers.get('X-Allot-Next-Offset'));
    if (Number.isFinite(next) && next > 0) offset = next;
    if (text) output.textContent = (output.textContent + text).slice(-TAIL);
    view.querySelector('#out-note').textContent = headers.get('X-Allot-Simulated') === 'true'
      ? '(simulated nodes: no output)' : (at ? `attempt ${at}` : '');
  }

  const first = await api(`/v1/workloads/${name}`);
  const events = await storedEvents(name, first.submitted);
  timeline.innerHTML = events.map(timelineRow).join('');
  await Promise.all([loadView(), loadOutput()]);
  view.dataset.ready = String(Date.now());
  const again = refresher(async () => {
    await loadView();
    await loadOutput();
    view.dataset.ready = String(Date.now());
  }, 200);
  const poll = setInterval(() => running && again(), 2000);
  return {
    onEvent: (ev) => {
      if (ev.workload !== name) return;
      timeline.insertAdjacentHTML('beforeend', timelineRow(ev));
      again();
    },
    dispose: () => {
      clearInterval(poll);
      again.cancel();
    },
  };
}
