// The event stream (GET /v1/events) followed with fetch() and a stream reader, since an
// EventSource cannot send the Authorization header and the token never goes in a URL. Parses
// Server-Sent Events, resumes with Last-Event-ID after a drop or an overflow, and hands each
// event to the listeners.
import { token } from './api.js';

const listeners = new Set();
let lastId = null;
let controller = null;
let count = 0;
let onState = () => {};

export function onEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function eventCount() {
  return count;
}

// The id of the last event received (null before the first).
export function lastEventId() {
  return lastId;
}

function dispatch(name, id, data) {
  let ev;
  try {
    ev = JSON.parse(data);
  } catch {
    return;
  }
  if (id !== null) lastId = id;
  if (name === 'overflow' && ev.last_id !== undefined) lastId = ev.last_id;
  count++;
  for (const fn of listeners) fn(ev, name);
}

// One block of an SSE stream: its fields (event, id, data), comments skipped.
function parseBlock(block) {
  let name = 'message';
  let id = null;
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') name = value;
    else if (field === 'id') id = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length) dispatch(name, id, data.join('\n'));
}

async function follow(signal, unauthorized) {
  while (!signal.aborted) {
    try {
      const headers = { Authorization: `Bearer ${token()}`, Accept: 'text/event-stream' };
      if (lastId !== null) headers['Last-Event-ID'] = String(lastId);
      const res = await fetch('/v1/events', { headers, signal, cache: 'no-store' });
      if (res.status === 401) {
        unauthorized();
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      onState(true);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let m;
        while ((m = /\r?\n\r?\n/.exec(buf))) {
          parseBlock(buf.slice(0, m.index));
          buf = buf.slice(m.index + m[0].length);
        }
      }
    } catch (e) {
      if (signal.aborted) return;
    }
    onState(false);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// Start following (again); state(true|false) is told when the stream is up or down.
export function start(state, unauthorized) {
  stop();
  onState = state;
  controller = new AbortController();
  follow(controller.signal, unauthorized);
}

export function stop() {
  if (controller) controller.abort();
  controller = null;
  lastId = null;
}
