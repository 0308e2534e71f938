/**
 * `--profile`: a V8 CPU profile of Parley's isolate (the Worker and the
 * ConversationDO run in it) over one phase, taken through wrangler dev's
 * inspector with the Chrome DevTools Protocol, so the time a broadcast costs
 * can be split between JavaScript (the hub's send loop, JSON) and the runtime
 * underneath (`send` itself is native). Open the .cpuprofile in Chrome DevTools.
 */
export async function startProfile(inspectorPort, intervalUs = 100) {
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl);
  if (!target) throw new Error(`no inspector target on port ${inspectorPort}`);
  // The inspector refuses a client without an allowed Origin; undici's WebSocket takes headers as an extension.
  const ws = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: 'http://127.0.0.1' } });
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error('could not open the inspector socket'));
  });
  let nextId = 1;
  const pending = new Map();
  ws.onmessage = (ev) => {
    const msg = JSON.parse(typeof ev.data === 'string' ? ev.data : Buffer.from(ev.data).toString('utf8'));
    const p = msg.id !== undefined ? pending.get(msg.id) : undefined;
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(msg.error.message));
    else p.resolve(msg.result);
  };
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send('Profiler.enable');
  await send('Profiler.setSamplingInterval', { interval: intervalUs });
  await send('Profiler.start');
  return {
    target: target.title ?? target.id,
    async stop() {
      const { profile } = await send('Profiler.stop');
      ws.close();
      return profile;
    },
  };
}

/** Self time per function (ms), largest first, and the profile's span. */
export function selfTimes(profile, top = 15) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const dt = (deltas[i + 1] ?? 0) / 1000;
    const f = node.callFrame;
    const where = f.url ? `${f.url.split('/').pop()}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const spanMs = (profile.endTime - profile.startTime) / 1000;
  return { spanMs, top: [...self].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, ms]) => ({ name, ms: Number(ms.toFixed(1)) })) };
}
