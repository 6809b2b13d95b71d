// The dashboard's shell: the login form (the token into session storage, never a URL), the
// views by the location's hash (#/cluster, #/workspaces, #/queue, #/workload/T/W/N,
// #/usage), and the event stream that keeps the open view up to date.
import { api, token, setToken, clearToken, whenUnauthorized } from './api.js';
import * as live from './live.js';
import * as cluster from './cluster.js';
import * as workspaces from './workspaces.js';
import * as queue from './queue.js';
import * as workload from './workload.js';
import * as usage from './usage.js';
import { esc } from './util.js';

const PAGES = { cluster, workspaces, queue, workload, usage };
const $ = (id) => document.getElementById(id);
let current = null; // the mounted view: {onEvent, dispose}
let mounting = 0;

function showLogin(message) {
  live.stop();
  if (current) current.dispose();
  current = null;
  $('view').replaceChildren();
  $('top').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('token').value = '';
  $('token').focus();
}

function logout(message) {
  clearToken();
  showLogin(message);
}

async function showPage() {
  if (!token()) {
    showLogin();
    return;
  }
  $('login').hidden = true;
  $('top').hidden = false;
  const [, name = 'cluster', ...rest] = (location.hash || '#/cluster').split('/');
  const page = PAGES[name] ? name : 'cluster';
  for (const a of document.querySelectorAll('nav a'))
    a.classList.toggle('active', a.dataset.page === page);
  if (current) current.dispose();
  current = null;
  const view = $('view');
  view.replaceChildren();
  view.dataset.page = page;
  const mine = ++mounting;
  try {
    const mounted = await PAGES[page].mount(view, rest.map(decodeURIComponent));
    if (mine !== mounting) mounted.dispose();
    else current = mounted;
  } catch (e) {
    if (mine === mounting && e.status !== 401)
      view.innerHTML = `<p class="error">${esc(e.message)}</p>`;
  }
}

async function login(ev) {
  ev.preventDefault();
  const t = $('token').value.trim();
  if (!/^allot_[0-9a-f]+_[0-9a-f]+$/.test(t)) {
    $('login-error').textContent = 'that does not look like an Allot token (allot_..._...)';
    return;
  }
  setToken(t);
  $('token').value = '';
  try {
    await api('/v1/tenants');
  } catch (e) {
    if (e.status !== 401) logout(e.message);
    return;
  }
  start();
}

async function start() {
  live.start(
    (up) => $('live').classList.toggle('off', !up),
    () => logout('your token was refused (unknown or expired): log in again'),
  );
  await showPage();
  api('/v1/tenants')
    .then((t) => {
      $('whoami').textContent = `tenants: ${t.items.map((x) => x.name).join(', ')}`;
    })
    .catch(() => {});
}

whenUnauthorized(() => logout('your token was refused (unknown or expired): log in again'));
live.onEvent((ev) => {
  $('live-count').textContent = String(live.eventCount());
  $('live').dataset.lastId = String(live.lastEventId());
  if (current && current.onEvent) current.onEvent(ev);
});
window.addEventListener('hashchange', () => token() && showPage());
document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', () => logout('logged out'));
  if (token()) start();
  else showLogin();
});
