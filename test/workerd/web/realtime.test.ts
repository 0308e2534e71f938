/**
 * The Web Messenger socket: a reconnect replays exactly what came after the
 * last seq it saw, then `ready`; live messages arrive once each, in seq order,
 * on every open tab; a reconnect that missed more than MAX_REPLAY is told to
 * resync; deleting the conversation closes its sockets; a socket is refused
 * before upgrading for anyone who is not a participant.
 */
import { SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_REPLAY } from '../../../durable/socket-hub';
import { call } from '../helpers';
import { businessSays, eventually, messageFrames, openSocket, pause, say, socketRequest, startSession, webApp, type WebApp } from './web';

let app: WebApp;
beforeAll(async () => {
  app = await webApp();
});

const texts = (messages: any[]) => messages.map((m) => m.content.text);

describe('resume', () => {
  it('after=<seq of the 2nd message> with 5 stored replays exactly messages 3..5, then ready with the last seq', async () => {
    const v = await startSession(app);
    const sent = [];
    for (let i = 1; i <= 5; i++) sent.push(i % 2 ? await say(app, v, `m${i}`) : await businessSays(app, v.conversationId, { type: 'text', text: `m${i}` }));
    const socket = await openSocket(app, v.conversationId, v.token, sent[1].seq);
    await eventually(() => socket.frames.some((f) => f.type === 'ready'));
    expect(socket.frames.map((f) => f.type)).toEqual(['message', 'message', 'message', 'ready']);
    expect(texts(messageFrames(socket))).toEqual(['m3', 'm4', 'm5']);
    expect(messageFrames(socket).map((m) => m.id)).toEqual(sent.slice(2).map((m) => m.id));
    expect(socket.frames.at(-1)).toEqual({ type: 'ready', lastSeq: sent[4].seq });
    socket.ws.close();
  });

  it('after=0 replays everything; after=<last seq> replays nothing and is ready at once with that seq', async () => {
    const v = await startSession(app);
    const a = await say(app, v, 'one');
    const b = await say(app, v, 'two');
    const all = await openSocket(app, v.conversationId, v.token, 0);
    await eventually(() => all.frames.some((f) => f.type === 'ready'));
    expect(texts(messageFrames(all))).toEqual(['one', 'two']);
    const none = await openSocket(app, v.conversationId, v.token, b.seq);
    await eventually(() => none.frames.some((f) => f.type === 'ready'));
    expect(none.frames).toEqual([{ type: 'ready', lastSeq: b.seq }]);
    expect(a.seq).toBeLessThan(b.seq);
    all.ws.close();
    none.ws.close();
  });

  it(`more than MAX_REPLAY (${MAX_REPLAY}) missed: resync instead of a replay`, async () => {
    const v = await startSession(app);
    const first = await say(app, v, 'seen');
    for (let i = 0; i < MAX_REPLAY + 1; i += 20) {
      await Promise.all(Array.from({ length: Math.min(20, MAX_REPLAY + 1 - i) }, (_, j) => businessSays(app, v.conversationId, { type: 'text', text: `missed ${i + j}` })));
    }
    const socket = await openSocket(app, v.conversationId, v.token, first.seq);
    await eventually(() => socket.frames.some((f) => f.type === 'ready'));
    expect(socket.frames.map((f) => f.type)).toEqual(['resync', 'ready']);

    // Exactly MAX_REPLAY missed still replays.
    const justEnough = await openSocket(app, v.conversationId, v.token, first.seq + 1);
    await eventually(() => justEnough.frames.some((f) => f.type === 'ready'));
    expect(messageFrames(justEnough)).toHaveLength(MAX_REPLAY);
    socket.ws.close();
    justEnough.ws.close();
  });
});

describe('live', () => {
  it('messages posted while the socket is open arrive once each, in seq order', async () => {
    const v = await startSession(app);
    const socket = await openSocket(app, v.conversationId, v.token, 0);
    await eventually(() => socket.frames.some((f) => f.type === 'ready'));
    const posted = await Promise.all([
      say(app, v, 'u1'),
      businessSays(app, v.conversationId, { type: 'text', text: 'b1' }),
      say(app, v, 'u2'),
      businessSays(app, v.conversationId, { type: 'text', text: 'b2' }),
      say(app, v, 'u3'),
    ]);
    await eventually(() => messageFrames(socket).length >= 5);
    await pause(100);
    const received = messageFrames(socket);
    expect(received).toHaveLength(5);
    const seqs = received.map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(received.map((m) => m.id))).toEqual(new Set(posted.map((m) => m.id)));
    socket.ws.close();
  });

  it('two tabs both get each message', async () => {
    const v = await startSession(app);
    const tab1 = await openSocket(app, v.conversationId, v.token, 0);
    const tab2 = await openSocket(app, v.conversationId, v.token, 0);
    await eventually(() => tab1.frames.some((f) => f.type === 'ready') && tab2.frames.some((f) => f.type === 'ready'));
    await say(app, v, 'from tab 1');
    await businessSays(app, v.conversationId, { type: 'text', text: 'to both' });
    await eventually(() => messageFrames(tab1).length === 2 && messageFrames(tab2).length === 2);
    expect(texts(messageFrames(tab1))).toEqual(['from tab 1', 'to both']);
    expect(texts(messageFrames(tab2))).toEqual(['from tab 1', 'to both']);
    tab1.ws.close();
    tab2.ws.close();
  });

  it('answers the keepalive "ping" with "pong"', async () => {
    const v = await startSession(app);
    const res = await socketRequest(app, v.conversationId, v.token, 0);
    const ws = res.webSocket!;
    const raw: string[] = [];
    ws.accept();
    ws.addEventListener('message', (e) => {
      raw.push(e.data as string);
    });
    ws.send('ping');
    await eventually(() => raw.includes('pong'));
    ws.close();
  });
});

describe('deletions reach open tabs', () => {
  it('a message deleted through the API arrives as a deleted frame, and deleting all as cleared up to the last seq', async () => {
    const v = await startSession(app);
    const first = await businessSays(app, v.conversationId, { type: 'text', text: 'keep?' });
    const second = await businessSays(app, v.conversationId, { type: 'text', text: 'also' });
    const socket = await openSocket(app, v.conversationId, v.token, second.seq);
    expect((await call('DELETE', `/v2/apps/${app.appId}/conversations/${v.conversationId}/messages/${first.id}`, app.auth)).status).toBe(200);
    await eventually(() => socket.frames.some((f) => f.type === 'deleted'));
    expect(socket.frames.find((f) => f.type === 'deleted')).toEqual({ type: 'deleted', messageIds: [first.id] });
    expect((await call('DELETE', `/v2/apps/${app.appId}/conversations/${v.conversationId}/messages`, app.auth)).status).toBe(200);
    await eventually(() => socket.frames.some((f) => f.type === 'cleared'));
    expect(socket.frames.find((f) => f.type === 'cleared')).toEqual({ type: 'cleared', upToSeq: second.seq });
    socket.ws.close();
  });
});

describe('closing and refusing', () => {
  it('deleting the conversation closes its sockets', async () => {
    const v = await startSession(app);
    const extra = await call('POST', `/v2/apps/${app.appId}/conversations`, app.auth, { type: 'personal', participants: [{ userId: v.userId }] });
    expect(extra.status).toBe(201);
    expect(extra.body.conversation.isDefault).toBe(false);
    const conversationId = extra.body.conversation.id;
    const socket = await openSocket(app, conversationId, v.token, 0);
    await eventually(() => socket.frames.some((f) => f.type === 'ready'));
    expect(socket.closed).toBeUndefined();
    expect((await call('DELETE', `/v2/apps/${app.appId}/conversations/${conversationId}`, app.auth)).status).toBe(200);
    await eventually(() => socket.closed !== undefined);
    expect(socket.closed!.code).toBe(4404);
    const reopen = await socketRequest(app, conversationId, v.token, 0);
    expect(reopen.status).toBe(404);
    expect(reopen.webSocket).toBeNull();
  });

  it('a socket for a user who is not a participant is refused with 403 before the upgrade', async () => {
    const owner = await startSession(app);
    const other = await startSession(app);
    const res = await socketRequest(app, owner.conversationId, other.token, 0);
    expect(res.status).toBe(403);
    expect(res.webSocket).toBeNull();
    expect(((await res.json()) as any).errors[0].code).toBe('forbidden');
  });

  it('a socket without the parley subprotocol and token is refused, and a plain GET asks for an upgrade', async () => {
    const v = await startSession(app);
    const noToken = await socketRequest(app, v.conversationId, '', 0);
    expect(noToken.status).toBe(400);
    expect(noToken.webSocket).toBeNull();
    const forged = await socketRequest(app, v.conversationId, 'x.y.z', 0);
    expect(forged.status).toBe(401);
    const plain = await SELF.fetch(`http://parley.test/sdk/v2/apps/${app.appId}/conversations/${v.conversationId}/socket`);
    expect(plain.status).toBe(426);
  });
});
