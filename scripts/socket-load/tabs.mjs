/**
 * One browser tab's realtime socket, as the widget holds it: opened with the
 * subprotocols ["parley", token] and `?after=<last seq seen>`, deduping on
 * `seq`. It keeps what the checks need: every seq received (a second copy is
 * a duplicate, a seq below the highest seen is out of order), when each
 * message arrived, and the upgrade and `ready` times. The receipt time is
 * taken before the frame is parsed.
 */
export const now = () => performance.now();

export class Tab {
  /** @param {number} index @param {string} token @param {(id: string, tab: Tab) => void} onMessage */
  constructor(index, token, onMessage) {
    this.index = index;
    this.token = token;
    this.onMessage = onMessage;
    /** seq → how many frames carried it */
    this.seen = new Map();
    /** message id → receipt time (the first copy) */
    this.at = new Map();
    this.highest = 0;
    this.duplicates = 0;
    this.outOfOrder = 0;
    this.resyncs = 0;
    this.otherFrames = 0;
    this.ws = undefined;
    this.open = false;
    this.ready = false;
    this.closedUnexpectedly = 0;
  }

  /**
   * Opens the socket; resolves when `ready` arrives with the timings
   * { upgradeMs, readyMs, replayed, readyLastSeq }, rejects on an error,
   * a close before `ready`, or `timeoutMs`.
   */
  connect(url, timeoutMs) {
    const started = now();
    let replayed = 0;
    return new Promise((resolve, reject) => {
      let upgraded;
      const ws = new WebSocket(url, ['parley', this.token]);
      this.ws = ws;
      const timer = setTimeout(() => {
        fail(new Error(`no ready within ${timeoutMs} ms`));
        try {
          ws.close();
        } catch {}
      }, timeoutMs);
      const fail = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      ws.onopen = () => {
        upgraded = now();
        this.open = true;
        if (ws.protocol !== 'parley') fail(new Error(`server selected subprotocol "${ws.protocol}", expected "parley"`));
      };
      ws.onerror = () => fail(new Error('socket error (upgrade refused or connection failed)'));
      ws.onclose = (ev) => {
        this.open = false;
        const wasReady = this.ready;
        this.ready = false;
        if (!this.closing) this.closedUnexpectedly++;
        fail(new Error(`closed before ready (${ev.code} ${ev.reason})`));
        if (wasReady && !this.closing) this.lastClose = { code: ev.code, reason: ev.reason };
      };
      ws.onmessage = (ev) => {
        const t = now();
        const frame = JSON.parse(ev.data);
        if (frame.type === 'message') {
          if (!this.ready) replayed++;
          this.receive(frame.message, t);
        } else if (frame.type === 'ready') {
          this.ready = true;
          clearTimeout(timer);
          resolve({ upgradeMs: (upgraded ?? t) - started, readyMs: t - started, replayed, readyLastSeq: frame.lastSeq });
        } else if (frame.type === 'resync') {
          this.resyncs++;
        } else {
          this.otherFrames++;
        }
      };
    });
  }

  receive(message, t) {
    const seq = message.seq;
    const copies = this.seen.get(seq) ?? 0;
    this.seen.set(seq, copies + 1);
    if (copies > 0) {
      this.duplicates++;
      return;
    }
    if (seq < this.highest) this.outOfOrder++;
    this.highest = Math.max(this.highest, seq);
    this.at.set(message.id, t);
    this.onMessage(message.id, this);
  }

  /** A clean close, as a tab being closed; resolves when the close completes. */
  close() {
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    this.closing = true;
    return new Promise((resolve) => {
      const done = () => {
        this.closing = false;
        resolve();
      };
      ws.addEventListener('close', done, { once: true });
      ws.close(1000, 'tab closed');
    });
  }
}
