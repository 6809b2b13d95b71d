// The API as the dashboard calls it: the token from session storage in the Authorization
// header (never in a URL); a 401 forgets the token and goes back to the login form.
const KEY = 'allot.token';

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(t) {
  sessionStorage.setItem(KEY, t);
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
  }
}

let onUnauthorized = () => {};
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

// GET (or another method) path; RET the parsed JSON, or the text when as === 'text'
// (then {text, headers}). Throws ApiError.
export async function api(path, { method = 'GET', body, as = 'json', signal } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) {
    onUnauthorized();
    throw new ApiError(401, null);
  }
  if (as === 'text') {
    const text = await res.text();
    if (!res.ok) throw new ApiError(res.status, null);
    return { text, headers: res.headers };
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// Every item of a paged list (?limit=1000, following next as after= or before=), at most
// max items.
export async function apiAll(path, { cursor = 'after', max = 20000 } = {}) {
  const items = [];
  const sep = path.includes('?') ? '&' : '?';
  let next = null;
  do {
    const page = await api(`${path}${sep}limit=1000${next !== null ? `&${cursor}=${next}` : ''}`);
    items.push(...page.items);
    next = page.next ?? null;
  } while (next !== null && items.length < max);
  return items;
}
