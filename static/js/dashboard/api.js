// The only fetch wrapper: same-origin JSON, the CSRF header on writes, and a trip to the login page on 401.
const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `request failed with status ${status}`);
    this.status = status;
    this.body = body;
  }
}

export async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/admin/api/${path}`, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
    throw new ApiError(401, null);
  }
  const payload = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

export const getJson = (path) => request("GET", path);
export const postJson = (path, body) => request("POST", path, body ?? {});
export const patchJson = (path, body) => request("PATCH", path, body);
export const deleteJson = (path) => request("DELETE", path);

/** `path` with `params` as a query string; null and undefined values are left out. */
export function withQuery(path, params = {}) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}

/** The absolute URL of an API path, for links and streams that do not go through fetch. */
export function apiUrl(path, params) {
  return `/admin/api/${withQuery(path, params)}`;
}
