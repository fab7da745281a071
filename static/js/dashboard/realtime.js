// Live pushes over Socket.IO, or over Server-Sent Events when WebSocket is unavailable; callers only see
// (event name, payload) in seq order, whichever transport carries them. Reconnects back off with jitter
// and resume from the highest seq seen, so nothing is lost and nothing is applied twice. A seq counts
// only in its stream's epoch: after a server restart a new stream numbers from 1 again, the server answers
// the old cursor with resync, and its pushes are new however low their seqs.
import { apiUrl } from "./api.js";

export const CHANNELS = ["live_update", "metrics", "metric", "transaction", "activity", "alert", "notification",
  "annotation"];
export const ROOMS = ["metrics", "transactions", "activity", "alerts", "notifications"];

const CONNECT_TIMEOUT_MS = 3000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30000;
const STABLE_AFTER_MS = 5000;
// After WebSocket failed and SSE worked, reconnects go straight to SSE for a while, then try WebSocket again.
const PREFER_SSE_MS = 5 * 60000;

/** Delay before reconnect attempt `attempt` (0, 1, ...): doubling up to a cap, the upper half jittered. */
export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export class RealtimeClient {
  /**
   * onEvent(name, payload) for each new data push; onState({state, transport, retryInMs});
   * onResync(reason) when the server can no longer replay what was missed. A page that shows less than the
   * dashboard names its `rooms` (with "admin" for live_update) and SSE `channels`, and is sent only those.
   */
  constructor({ onEvent, onState, onResync, rooms = ["admin", ...ROOMS], channels = CHANNELS }) {
    this.rooms = rooms;
    this.channels = channels;
    this.onEvent = onEvent;
    this.onState = onState;
    this.onResync = onResync;
    this.lastSeq = null;
    this.epoch = null; // of the stream that numbered lastSeq; null until the server names it
    this.enabled = false;
    this.attempt = 0;
    this.generation = 0;
    this.subscribedOnce = false;
    this.preferSseUntil = 0;
    this.webSocketFailures = 0; // while the server answers HTTP, since WebSocket last worked
    this.socket = null;
    this.source = null;
    this.timers = {};
  }

  /** Connect (or reconnect, resuming after the last seq seen) and apply pushes. */
  start() {
    if (this.enabled) return;
    this.enabled = true;
    this.attempt = 0;
    this.connect();
  }

  /** Disconnect and ignore pushes until start() again. */
  stop() {
    this.enabled = false;
    this.generation += 1;
    this.closeTransports();
    this.report("paused", null);
  }

  connect() {
    const generation = ++this.generation;
    this.closeTransports();
    if (Date.now() < this.preferSseUntil || typeof window.io !== "function") this.openSse(generation, false);
    else this.openWebSocket(generation);
  }

  openWebSocket(generation) {
    this.report("connecting", "websocket");
    const socket = window.io("/admin", {
      transports: ["websocket"], reconnection: false, forceNew: true, timeout: CONNECT_TIMEOUT_MS });
    this.socket = socket;
    const current = () => generation === this.generation;
    const fallBack = async () => {
      if (!current()) return;
      this.closeTransports();
      // Only a WebSocket that fails twice while the server answers HTTP is a reason to prefer SSE: a server
      // that is down (a restart) is retried with backoff, or every deploy would leave pages on SSE for minutes.
      if (!(await serverAnswers())) {
        if (current()) this.scheduleReconnect();
        return;
      }
      if (!current()) return;
      this.webSocketFailures += 1;
      if (this.webSocketFailures < 2) this.openWebSocket(generation);
      else this.openSse(generation, true);
    };
    this.timers.connect = setTimeout(fallBack, CONNECT_TIMEOUT_MS);
    socket.on("connect_error", fallBack);
    socket.on("connect", () => current() && this.onWebSocketConnect(socket));
    socket.on("disconnect", () => current() && this.scheduleReconnect());
    socket.on("status", (status) => current() && this.noteStatus(status));
    socket.on("resync", (body) => current() && this.resync(body));
    socket.on("error", (body) => current() && console.warn("realtime error", body?.code, body?.message));
    // Custom metric points ("metric") share the metrics room: a page that shows none still counts their seq.
    for (const name of new Set([...this.channels, "metric"])) socket.on(name, (payload) => current() && this.receive(name, payload));
  }

  onWebSocketConnect(socket) {
    clearTimeout(this.timers.connect);
    this.webSocketFailures = 0;
    if (this.subscribedOnce && this.lastSeq !== null) {
      const cursor = this.epoch === null ? { since: this.lastSeq } : { since: this.lastSeq, epoch: this.epoch };
      socket.emit("resume", { ...cursor, rooms: this.rooms });
    } else {
      this.join(socket);
    }
    this.subscribedOnce = true;
    this.connected("websocket");
  }

  join(socket) {
    for (const room of this.rooms) {
      if (room === "admin") socket.emit("join_admin_room");
      else socket.emit("join_room", { room });
    }
  }

  openSse(generation, afterWebSocketFailed) {
    this.webSocketFailures = 0;
    this.report("connecting", "sse");
    const params = { channels: this.channels.join(",") };
    if (this.lastSeq !== null) params.last_event_id = this.epoch === null ? this.lastSeq : `${this.epoch}:${this.lastSeq}`;
    const source = new EventSource(apiUrl("stream", params));
    this.source = source;
    const current = () => generation === this.generation;
    source.onopen = () => {
      if (!current()) return;
      if (afterWebSocketFailed) this.preferSseUntil = Date.now() + PREFER_SSE_MS;
      this.subscribedOnce = true;
      this.connected("sse");
    };
    source.onerror = () => current() && this.scheduleReconnect();
    source.addEventListener("resync", (event) => current() && this.resync(parse(event.data)));
    for (const name of this.channels) {
      source.addEventListener(name, (event) => current() && this.receive(name, parse(event.data), epochOf(event.lastEventId)));
    }
  }

  connected(transport) {
    this.report("live", transport);
    clearTimeout(this.timers.stable);
    this.timers.stable = setTimeout(() => { this.attempt = 0; }, STABLE_AFTER_MS);
  }

  noteStatus(status) {
    // Before any push, the server's current place is where a later resume should start. Once there is a
    // cursor, status leaves it alone: a resume must name the epoch that numbered it, not the server's.
    if (this.lastSeq === null && Number.isInteger(status?.seq)) {
      this.lastSeq = status.seq;
      this.epoch = status.epoch ?? null;
    }
  }

  receive(name, payload, epoch = null) {
    if (!this.enabled || !payload) return;
    if (epoch !== null && epoch !== this.epoch) {
      // Seqs of another stream say nothing about what was seen: start counting in this one.
      this.epoch = epoch;
      this.lastSeq = null;
    }
    if (Number.isInteger(payload.seq)) {
      if (this.lastSeq !== null && payload.seq <= this.lastSeq) return;
      this.lastSeq = payload.seq;
    }
    this.onEvent(name, payload);
  }

  resync(body) {
    // The server skips what it no longer holds and carries on from body.seq (rooms stay joined), in the
    // numbering of body.epoch: after a restart that seq is below the old cursor, and pushes above it are new.
    if (Number.isInteger(body?.seq)) this.lastSeq = body.seq;
    if (typeof body?.epoch === "string") this.epoch = body.epoch;
    this.onResync(body?.reason ?? "resync");
  }

  scheduleReconnect() {
    this.generation += 1;
    this.closeTransports();
    if (!this.enabled) return;
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.report("offline", null, delay);
    this.timers.retry = setTimeout(() => this.enabled && this.connect(), delay);
  }

  closeTransports() {
    for (const timer of Object.values(this.timers)) clearTimeout(timer);
    this.timers = {};
    if (this.socket) {
      this.socket.removeAllListeners();
      this.socket.disconnect();
      this.socket = null;
    }
    if (this.source) {
      this.source.close();
      this.source = null;
    }
  }

  report(state, transport, retryInMs = null) {
    this.onState({ state, transport, retryInMs, lastSeq: this.lastSeq });
  }
}

/** Whether the server answers plain HTTP now (its /healthz), within the connect timeout. */
async function serverAnswers() {
  try {
    const response = await fetch("/healthz", { cache: "no-store", signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS) });
    return response.ok;
  } catch {
    return false;
  }
}

/** The epoch part of an SSE event id, `<epoch>:<seq>`; null for a bare seq. */
function epochOf(eventId) {
  const colon = eventId ? eventId.lastIndexOf(":") : -1;
  return colon > 0 ? eventId.slice(0, colon) : null;
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
