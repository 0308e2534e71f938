/**
 * One WebSocket to the open conversation (web-contract.md route 11). It
 * resumes after the highest seq seen, pings every 25 s and reconnects with
 * exponential backoff and jitter; `kick` reconnects at once when the page
 * becomes visible or the network comes back. Frames are handed to the caller
 * unparsed beyond JSON: merging and dedupe belong to the timeline.
 */
import type { Message } from './types';

export type Frame =
  | { type: 'message'; message: Message }
  | { type: 'ready'; lastSeq: number }
  | { type: 'resync' }
  | { type: 'typing'; state: 'start' | 'stop'; author: { type: 'business' | 'user'; displayName?: string; avatarUrl?: string } }
  | { type: 'read'; author: { type: 'business' } | { type: 'user'; userId: string }; at: string }
  | { type: 'deleted'; messageIds: string[] }
  | { type: 'cleared'; upToSeq: number };

const PING_MS = 25_000;
/** Two missed pongs: the connection is dead even if the browser has not noticed. */
const SILENCE_MS = 60_000;
/** The server closes with this when the user left the conversation or it was deleted: reconnecting cannot help. */
const GONE = 4404;

/** Delay before reconnect attempt `attempt` (0-based): doubling from 1 s up to 30 s, then a random half of it on top of the other half, so many tabs don't reconnect in step. */
export function backoffDelay(attempt: number, random: number): number {
  const ceiling = Math.min(30_000, 1000 * 2 ** attempt);
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

export interface RealtimeHandlers {
  /** The URL to open now (it carries ?after=), or undefined when there is no conversation. */
  url(): string | undefined;
  token(): string | undefined;
  frame(frame: Frame): void;
  connected(up: boolean): void;
  /** A socket closed before it ever opened: maybe the token is dead; the caller checks over REST. */
  refused(): void;
  gone(): void;
}

export class Realtime {
  private ws: WebSocket | undefined;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private lastFrameAt = 0;
  private up = false;
  private running = false;

  constructor(private readonly on: RealtimeHandlers) {}

  start(): void {
    this.running = true;
    this.connect();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = undefined;
    this.closed();
    ws?.close(1000);
  }

  /** Reconnect now instead of waiting out the backoff; a socket silent for longer than a ping (a laptop that slept) is replaced. */
  kick(): void {
    if (!this.running) return;
    const stale = this.ws;
    if (stale) {
      if (stale.readyState !== WebSocket.OPEN || Date.now() - this.lastFrameAt < PING_MS) return;
      this.ws = undefined;
      this.closed();
      stale.close();
    }
    clearTimeout(this.retryTimer);
    this.attempt = 0;
    this.connect();
  }

  private connect(): void {
    const url = this.on.url();
    const token = this.on.token();
    if (!this.running || this.ws || !url || !token) return;
    let opened = false;
    const ws = new WebSocket(url, ['parley', token]);
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.lastFrameAt = Date.now();
      this.pingTimer = setInterval(() => {
        if (Date.now() - this.lastFrameAt > SILENCE_MS) ws.close();
        else ws.send('ping');
      }, PING_MS);
    };
    ws.onmessage = (ev) => {
      this.lastFrameAt = Date.now();
      if (typeof ev.data !== 'string' || ev.data === 'pong') return;
      let frame: Frame;
      try {
        frame = JSON.parse(ev.data) as Frame;
      } catch {
        return;
      }
      if (frame.type === 'ready') {
        this.attempt = 0;
        this.up = true;
        this.on.connected(true);
      }
      this.on.frame(frame);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.closed();
      if (!this.running) return;
      if (ev.code === GONE) {
        this.running = false;
        this.on.gone();
        return;
      }
      if (!opened) this.on.refused();
      this.retryTimer = setTimeout(() => this.connect(), backoffDelay(this.attempt++, Math.random()));
    };
  }

  private closed(): void {
    clearInterval(this.pingTimer);
    if (this.up) {
      this.up = false;
      this.on.connected(false);
    }
  }
}
