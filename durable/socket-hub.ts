/**
 * The Web Messenger's realtime side of a ConversationDO: browser sockets held
 * with the WebSocket Hibernation API (an idle conversation with open tabs
 * costs no duration), each tagged with its user. A socket opens with the
 * highest `seq` it saw; the hub replays what came after from SQLite and
 * accepts it in the same synchronous turn, so no message committed in
 * between can fall into a gap, and the browser dedupes on `seq` for the rest.
 * Frames raised inside a transaction are held until the commit, so a rolled
 * back write never reaches a browser, and are sent after the call that
 * committed them has answered: a business POST does not wait for a thousand
 * socket writes (about 50 µs each).
 */
import type { Message } from '../src/schema/message';

/** What a browser receives. `resync`: more was missed than a replay carries; refetch the newest page over REST. */
export type SocketFrame =
  | { type: 'message'; message: Message }
  | { type: 'ready'; lastSeq: number }
  | { type: 'resync' }
  | { type: 'typing'; state: 'start' | 'stop'; author: { type: 'business'; displayName?: string; avatarUrl?: string } | { type: 'user'; userId: string } }
  | { type: 'read'; author: { type: 'business' } | { type: 'user'; userId: string }; at: string }
  /** Messages deleted through the API: open tabs drop them (and their cached copies). */
  | { type: 'deleted'; messageIds: string[] }
  /** Every message up to this seq was deleted. */
  | { type: 'cleared'; upToSeq: number };

/** A reconnect that missed more than this refetches over REST instead of a long replay. */
export const MAX_REPLAY = 200;
export const SOCKET_PROTOCOL = 'parley';

export class SocketHub {
  /** Raised by the running transaction; dropped if it rolls back. */
  private held: SocketFrame[] = [];
  /** Committed, in commit order, waiting for the send that follows the answer. */
  private ready: SocketFrame[] = [];
  private sendScheduled = false;

  constructor(private readonly ctx: DurableObjectState) {
    // Keepalives are answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
  }

  /**
   * Accepts a browser socket for `userId`, first sending it the messages after
   * `after` (at most MAX_REPLAY, else `resync`), then `ready`.
   */
  open(userId: string, after: number, missed: (after: number, limit: number) => Message[]): Response {
    // Committed frames still waiting go to the sockets already open; the new one gets the same messages by replay.
    this.send();
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    // The tag survives hibernation and is how a user's sockets are found again.
    this.ctx.acceptWebSocket(server, [userId]);
    const replay = missed(after, MAX_REPLAY + 1);
    if (replay.length > MAX_REPLAY) {
      server.send(JSON.stringify({ type: 'resync' } satisfies SocketFrame));
    } else {
      for (const message of replay) server.send(JSON.stringify({ type: 'message', message } satisfies SocketFrame));
    }
    const lastSeq = replay.length > 0 && replay.length <= MAX_REPLAY ? replay[replay.length - 1]!.seq! : after;
    server.send(JSON.stringify({ type: 'ready', lastSeq } satisfies SocketFrame));
    return new Response(null, { status: 101, webSocket: client, headers: { 'sec-websocket-protocol': SOCKET_PROTOCOL } });
  }

  /** Queues a frame for every open socket; it goes out at `flush`, after the commit. */
  hold(frame: SocketFrame): void {
    this.held.push(frame);
  }

  /** The transaction that raised the held frames rolled back. */
  discard(): void {
    this.held = [];
  }

  /** The transaction committed: its frames go out right after the current call returns. */
  flush(): void {
    if (this.held.length === 0) return;
    // Most conversations (every channel-only one) have no browser open: nothing to serialize or schedule.
    if (this.ctx.getWebSockets().length === 0) {
      this.held = [];
      return;
    }
    this.ready.push(...this.held);
    this.held = [];
    if (this.sendScheduled) return;
    this.sendScheduled = true;
    this.ctx.waitUntil(
      new Promise<void>((resolve) =>
        setTimeout(() => {
          this.send();
          resolve();
        }, 0),
      ),
    );
  }

  private send(): void {
    this.sendScheduled = false;
    if (this.ready.length === 0) return;
    const frames = this.ready.map((f) => JSON.stringify(f));
    this.ready = [];
    const sockets = this.ctx.getWebSockets();
    for (const ws of sockets) {
      for (const frame of frames) {
        try {
          ws.send(frame);
        } catch {
          // A socket closing under us: its browser reconnects and replays from its last seq.
        }
      }
    }
  }

  /** Closes the sockets of one user (removed from the conversation) or of everyone (conversation deleted). */
  close(userId: string | undefined, reason: string): void {
    for (const ws of userId ? this.ctx.getWebSockets(userId) : this.ctx.getWebSockets()) {
      try {
        ws.close(4404, reason);
      } catch {
        // Already closed.
      }
    }
  }

  get count(): number {
    return this.ctx.getWebSockets().length;
  }
}
