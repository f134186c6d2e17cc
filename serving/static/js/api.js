// The service's API: JSON requests with the learner's bearer token.
import { state } from "./state.js";

function authHeaders() {
  return state.token ? { authorization: `Bearer ${state.token}` } : {};
}

// the JSON answer; an Error with the status (and the service's detail) otherwise
export async function api(path, options = {}) {
  const headers = { "content-type": "application/json", ...authHeaders() };
  const response = await fetch(path, { headers, ...options });
  if (!response.ok) {
    const error = new Error(`${path}: ${response.status}`);
    error.status = response.status;
    error.detail = await response.json().then((b) => b.detail, () => null);
    throw error;
  }
  return response.json();
}

export function postJSON(path, body) {
  return api(path, { method: "POST", body: body === undefined ? undefined : JSON.stringify(body) });
}

// an id per attempt: a review sent twice (a retried request) is stored once
export function newAttemptId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// a learner token (a new learner when there is none or it is unknown); true when new
export async function ensureToken() {
  if (state.token) {
    const check = await fetch("/v1/me/settings", { headers: authHeaders() });
    if (check.ok) return false;
    if (check.status !== 401) throw new Error(`/v1/me/settings: ${check.status}`);
  }
  state.token = (await postJSON("/v1/learners")).learner_token;
  localStorage.setItem("kanjiwrite-token", state.token);
  return true;
}
