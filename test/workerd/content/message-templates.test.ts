/**
 * Stored message templates, `/v2/apps/{appId}/templates`: create, read, list
 * page by page, update and delete; every bad field refused with a 400 naming
 * it and nothing stored; duplicate names 409; integration keys and other apps
 * kept out; an app's deletion takes its templates. And the
 * `%((template:NAME))%` shorthand on POST .../messages: the template sent in
 * place as a message of its own, as it is now, an unknown name refused with
 * nothing stored. (Channels and webhooks: channels/shorthand-e2e.test.ts.)
 */
import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { newId } from '../../../src/ids';
import { asAccount, basic, call, newApp } from '../helpers';
import { messagesPath, newConversation, type Fixture } from '../load-fixtures';

type Json = Record<string, any>;
type App = Awaited<ReturnType<typeof newApp>>;

const templatesPath = (appId: string) => `/v2/apps/${appId}/templates`;
const create = (app: { appId: string; auth: string }, body: unknown, auth = app.auth) => call('POST', templatesPath(app.appId), auth, body);
const greeting = { type: 'text', text: 'Hello and welcome' };

async function stored(appId: string): Promise<Json[]> {
  const { results } = await env.DB.prepare('SELECT * FROM message_templates WHERE app_id = ? ORDER BY id').bind(appId).all<Json>();
  return results;
}

async function allPages(app: App, size: number): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let path = `${templatesPath(app.appId)}?page[size]=${size}`;
  let pages = 0;
  for (;;) {
    const res = await call('GET', path, app.auth);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    pages++;
    ids.push(...res.body.templates.map((t: Json) => t.id));
    if (!res.body.meta.hasMore) {
      expect(res.body.links.next).toBeUndefined();
      return { ids, pages };
    }
    const next = new URL(res.body.links.next);
    path = next.pathname + next.search;
  }
}

describe('templates: CRUD', () => {
  let app: App;
  beforeAll(async () => {
    app = await newApp('templates crud');
  });

  it('creates, gets, updates (name, content, metadata) and deletes a template', async () => {
    const made = await create(app, { name: 'welcome', content: greeting, metadata: { lang: 'en', v: 1 } });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const t = made.body.template;
    expect(t).toEqual({ id: expect.stringMatching(/^[0-9a-f]{24}$/), name: 'welcome', content: greeting, metadata: { lang: 'en', v: 1 }, createdAt: t.createdAt, updatedAt: t.createdAt });
    expect(Date.parse(t.createdAt)).not.toBeNaN();
    const one = `${templatesPath(app.appId)}/${t.id}`;
    expect((await call('GET', one, app.auth)).body).toEqual({ template: t });

    const patched = await call('PATCH', one, app.auth, { name: 'welcome.v2', content: { type: 'image', mediaUrl: 'https://example.org/hi.png', altText: 'Hi' }, metadata: null });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.template).toMatchObject({ id: t.id, name: 'welcome.v2', content: { type: 'image', mediaUrl: 'https://example.org/hi.png', altText: 'Hi' }, metadata: null, createdAt: t.createdAt });
    expect(patched.body.template.updatedAt >= t.updatedAt).toBe(true);
    expect((await call('GET', one, app.auth)).body.template).toEqual(patched.body.template);
    // A patch that names one field leaves the others as they are.
    const renamed = await call('PATCH', one, app.auth, { name: 'welcome-3' });
    expect(renamed.body.template).toMatchObject({ name: 'welcome-3', content: patched.body.template.content, metadata: null });

    const gone = await call('DELETE', one, app.auth);
    expect(gone).toEqual({ status: 200, body: {} });
    expect((await call('GET', one, app.auth)).body.errors[0].code).toBe('template_not_found');
    expect((await call('DELETE', one, app.auth)).status).toBe(404);
    expect((await call('PATCH', one, app.auth, { name: 'x' })).status).toBe(404);
    expect(await stored(app.appId)).toEqual([]);
  });

  it('answers 404 for ids Parley never minted', async () => {
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const res = await call(method, `${templatesPath(app.appId)}/not-an-id`, app.auth, method === 'PATCH' ? { name: 'x' } : undefined);
      expect(res.status, method).toBe(404);
      expect(res.body.errors[0].code).toBe('template_not_found');
    }
  });

  it('keeps any content a business message may have: carousel, list, file, location, form, text with markdown', async () => {
    const contents = [
      { type: 'carousel', items: [{ title: 'A', actions: [{ type: 'postback', text: 'Pick A', payload: 'A' }] }, { title: 'B', actions: [{ type: 'link', text: 'See B', uri: 'https://example.org/b' }] }] },
      { type: 'list', items: [{ title: 'One', actions: [{ type: 'postback', text: 'One', payload: '1' }] }] },
      { type: 'file', mediaUrl: 'https://example.org/terms.pdf' },
      { type: 'location', coordinates: { lat: 45.5, long: -73.6 }, location: { name: 'Office' } },
      { type: 'form', fields: [{ type: 'email', name: 'email', label: 'Your email' }] },
      { type: 'text', markdownText: '**Bold** %[Go](postback:GO)', blockChatInput: true },
    ];
    for (const [i, content] of contents.entries()) {
      const res = await create(app, { name: `kind-${i}`, content });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.template.content).toEqual(content);
    }
  });
});

describe('templates: listing', () => {
  it('pages through every template once, in id order, following links.next', async () => {
    const app = await newApp('templates pages');
    const made: string[] = [];
    for (let i = 0; i < 7; i++) made.push((await create(app, { name: `t${i}`, content: { type: 'text', text: `number ${i}` } })).body.template.id);
    const { ids, pages } = await allPages(app, 3);
    expect(pages).toBe(3);
    expect(ids).toEqual([...made].sort());
    expect(new Set(ids).size).toBe(7);

    // And back: page[before] the last id gives the ones before it, newest page first.
    const back = await call('GET', `${templatesPath(app.appId)}?page[before]=${ids[6]}&page[size]=2`, app.auth);
    expect(back.body.templates.map((t: Json) => t.id)).toEqual([ids[4], ids[5]]);
    expect(back.body.meta).toMatchObject({ hasMore: true });

    const defaults = await call('GET', templatesPath(app.appId), app.auth);
    expect(defaults.body.templates).toHaveLength(7);
    expect(defaults.body.meta.hasMore).toBe(false);
  });

  it('refuses a bad page size or cursor, naming it', async () => {
    const app = await newApp('templates bad pages');
    for (const [query, field] of [
      ['page[size]=101', 'page[size]'],
      ['page[size]=0', 'page[size]'],
      ['page[after]=zz', 'page[after]'],
    ]) {
      const res = await call('GET', `${templatesPath(app.appId)}?${query}`, app.auth);
      expect(res.status, query).toBe(400);
      expect(res.body.errors[0].title.startsWith(`${field}: `), res.body.errors[0].title).toBe(true);
    }
  });
});

describe('templates: bad input', () => {
  let app: App;
  let existing: Json;
  beforeAll(async () => {
    app = await newApp('templates bad input');
    existing = (await create(app, { name: 'kept', content: greeting, metadata: { a: 'b' } })).body.template;
  });

  const cases: [string, Json, RegExp][] = [
    ['no name', { content: greeting }, /^name: is required/],
    ['empty name', { name: '', content: greeting }, /^name: must be at least 1 character/],
    ['name with a space', { name: 'two words', content: greeting }, /^name: may only hold letters, digits, _, \. and -/],
    ['name with shorthand characters', { name: 'a))%', content: greeting }, /^name: may only hold/],
    ['name too long', { name: 'n'.repeat(129), content: greeting }, /^name: must be at most 128 characters/],
    ['name not a string', { name: 7, content: greeting }, /^name: must be a string/],
    ['no content', { name: 'c' }, /^content: is required/],
    ['content of no type', { name: 'c', content: { text: 'hi' } }, /^content\.type: is required/],
    ['empty text', { name: 'c', content: { type: 'text', text: '  ' } }, /^content\.text: must not be empty/],
    ['WhatsApp template content', { name: 'c', content: { type: 'template', template: { name: 'hsm', language: { code: 'en' } } } }, /^content\.type: template \(WhatsApp\)/],
    ['formResponse content', { name: 'c', content: { type: 'formResponse', fields: [{ type: 'text', name: 'n', label: 'N', text: 'x' }] } }, /^content\.type: formResponse/],
    ['a template inside a template', { name: 'c', content: { type: 'text', text: 'Also %((template:kept))%' } }, /^content\.text: holds %\(\(template:…\)\)%; templates do not nest/],
    ['a template inside markdown', { name: 'c', content: { type: 'text', markdownText: '%((template:kept))%' } }, /^content\.markdownText: .*templates do not nest/],
    ['shorthand that makes a bad message', { name: 'c', content: { type: 'text', text: `Many ${Array.from({ length: 11 }, (_, i) => `%[B${i}](postback:P${i})`).join(' ')}` } }, /^content\.actions: must have at most 10 actions/],
    ['a bad image URL', { name: 'c', content: { type: 'image', mediaUrl: 'not a url' } }, /^content\.mediaUrl: must be a valid URI/],
    ['nested metadata', { name: 'c', content: greeting, metadata: { deep: { x: 1 } } }, /^metadata\.deep: must be flat/],
    ['metadata over 4 KB', { name: 'c', content: greeting, metadata: { big: 'x'.repeat(4100) } }, /^metadata: must be at most 4096 bytes/],
  ];

  it.each(cases)('POST refuses %s with a 400 naming the field, and stores nothing', async (_what, body, title) => {
    const res = await create(app, body);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.errors[0].code).toBe('bad_request');
    expect(res.body.errors[0].title).toMatch(title);
    expect((await stored(app.appId)).map((r) => r.name)).toEqual(['kept']);
  });

  it.each(cases.filter(([, body]) => body.name !== undefined && body.content !== undefined))('PATCH refuses %s with a 400 and changes nothing', async (_what, body, title) => {
    const res = await call('PATCH', `${templatesPath(app.appId)}/${existing.id}`, app.auth, body);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.errors[0].title).toMatch(title);
    expect((await call('GET', `${templatesPath(app.appId)}/${existing.id}`, app.auth)).body.template).toEqual(existing);
  });

  it('refuses a body that is not JSON, and stores nothing', async () => {
    expect((await create(app, '{"name": "x",')).status).toBe(400);
    expect((await call('POST', templatesPath(app.appId), app.auth, 'name=x', { 'content-type': 'text/plain' })).status).toBe(415);
    expect(await stored(app.appId)).toHaveLength(1);
  });

  it('answers 409 for a name the app already has, on create and on rename, and changes nothing', async () => {
    const dup = await create(app, { name: 'kept', content: { type: 'text', text: 'other' } });
    expect(dup.status).toBe(409);
    expect(dup.body.errors[0]).toEqual({ code: 'conflict', title: 'name: the app already has a template named "kept"' });
    const other = (await create(app, { name: 'other', content: greeting })).body.template;
    const rename = await call('PATCH', `${templatesPath(app.appId)}/${other.id}`, app.auth, { name: 'kept', content: { type: 'text', text: 'changed' } });
    expect(rename.status).toBe(409);
    expect((await call('GET', `${templatesPath(app.appId)}/${other.id}`, app.auth)).body.template).toEqual(other);
    // Names are the app's own: another app may use the same one; and a template may keep its own name.
    expect((await create(await newApp('another'), { name: 'kept', content: greeting })).status).toBe(201);
    expect((await call('PATCH', `${templatesPath(app.appId)}/${other.id}`, app.auth, { name: 'other' })).status).toBe(200);
    expect((await stored(app.appId)).map((r) => r.name).sort()).toEqual(['kept', 'other']);
    expect((await call('DELETE', `${templatesPath(app.appId)}/${other.id}`, app.auth)).status).toBe(200);
  });

  it('refuses the template past the cap of 1,000 per app, naming the cap', async () => {
    const full = await newApp('templates cap');
    const now = new Date().toISOString();
    const insert = env.DB.prepare('INSERT INTO message_templates (id, app_id, name, content, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, NULL, ?, ?)');
    await env.DB.batch(Array.from({ length: 999 }, (_, i) => insert.bind(newId(), full.appId, `bulk-${i}`, JSON.stringify(greeting), now, now)));
    expect((await create(full, { name: 'the-thousandth', content: greeting })).status).toBe(201);
    const over = await create(full, { name: 'one-too-many', content: greeting });
    expect(over.status).toBe(400);
    expect(over.body.errors[0].title).toBe('An app can have at most 1000 templates; delete one first');
    expect(await stored(full.appId)).toHaveLength(1000);
  });
});

describe('templates: who may manage them', () => {
  it('account keys manage any app’s templates; integration keys get 403 on every route; other apps see 404', async () => {
    const app = await newApp('templates scopes');
    const byAccount = await create(app, { name: 'from-account', content: greeting }, asAccount);
    expect(byAccount.status).toBe(201);
    const one = `${templatesPath(app.appId)}/${byAccount.body.template.id}`;
    expect((await call('GET', one, asAccount)).body.template.name).toBe('from-account');

    const custom = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'custom', webhooks: [{ target: 'https://bot.example.org/hook', triggers: ['conversation:read'] }] });
    const key = await call('POST', `/v2/apps/${app.appId}/integrations/${custom.body.integration.id}/keys`, app.auth, { displayName: 'bot' });
    const bot = basic(key.body.key.id, key.body.key.secret);
    for (const [method, path, body] of [
      ['POST', templatesPath(app.appId), { name: 'by-bot', content: greeting }],
      ['GET', templatesPath(app.appId), undefined],
      ['GET', one, undefined],
      ['PATCH', one, { name: 'by-bot' }],
      ['DELETE', one, undefined],
    ] as const) {
      const res = await call(method, path, bot, body);
      expect(res.status, `${method} ${path}`).toBe(403);
    }

    // Another app's key cannot reach this app, and this template is not in the other app.
    const other = await newApp('templates other tenant');
    expect((await call('GET', one, other.auth)).status).toBe(403);
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const res = await call(method, `${templatesPath(other.appId)}/${byAccount.body.template.id}`, other.auth, method === 'PATCH' ? { name: 'stolen' } : undefined);
      expect(res.status, method).toBe(404);
    }
    expect((await call('GET', templatesPath(other.appId), other.auth)).body.templates).toEqual([]);
    expect((await call('GET', one, app.auth)).body.template).toEqual(byAccount.body.template);
  });

  it("an app's deletion removes its templates", async () => {
    const app = await newApp('templates deleted app');
    expect((await create(app, { name: 'doomed', content: greeting })).status).toBe(201);
    expect(await stored(app.appId)).toHaveLength(1);
    expect((await call('DELETE', `/v2/apps/${app.appId}`, asAccount)).status).toBe(200);
    expect(await stored(app.appId)).toEqual([]);
  });
});

describe('%((template:NAME))% on POST .../messages', () => {
  let f: Fixture;
  const send = (text: string, author: Json = { type: 'business' }, auth = f.auth) => call('POST', messagesPath(f), auth, { author, content: { type: 'text', text } });
  const listed = async () => (await call('GET', messagesPath(f), f.auth)).body.messages as Json[];

  beforeAll(async () => {
    f = await newConversation('templates sent');
  });

  it('sends text before, the template, and text after as three messages in order, answered and stored alike', async () => {
    const made = await create(f, { name: 'sizes', content: { type: 'text', text: 'Which size? %[S](postback:SIZE_S) %[M](postback:SIZE_M)' } });
    expect(made.status).toBe(201);
    const res = await send('Thanks for asking. %((template:sizes))% We ship tomorrow.');
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.messages.map((m: Json) => m.content)).toEqual([
      { type: 'text', text: 'Thanks for asking.' },
      { type: 'text', text: 'Which size?', actions: [{ type: 'postback', text: 'S', payload: 'SIZE_S' }, { type: 'postback', text: 'M', payload: 'SIZE_M' }] },
      { type: 'text', text: 'We ship tomorrow.' },
    ]);
    const all = await listed();
    expect(all.slice(-3).map((m) => m.id)).toEqual(res.body.messages.map((m: Json) => m.id));
    expect(all.slice(-3).map((m) => m.seq)).toEqual([...all.slice(-3).map((m) => m.seq)].sort((a, b) => a - b));
    expect(all.slice(-3).map((m) => m.content)).toEqual(res.body.messages.map((m: Json) => m.content));
  });

  it('refuses an unknown name with a 400 naming it, and stores nothing', async () => {
    const before = (await listed()).length;
    const res = await send('Before %((template:greeting))% and %((template:no-such-thing))% after');
    expect(res.status).toBe(400);
    expect(res.body.errors[0].title).toBe(`content.text: no template named "greeting" in this app; create it with POST /v2/apps/${f.appId}/templates`);
    expect(await listed()).toHaveLength(before);
  });

  it('sends a template as it is at the time of the send', async () => {
    const t = (await create(f, { name: 'greeting', content: { type: 'text', text: 'Hello (first version)' } })).body.template;
    expect((await send('%((template:greeting))%')).body.messages.map((m: Json) => m.content.text)).toEqual(['Hello (first version)']);
    await call('PATCH', `${templatesPath(f.appId)}/${t.id}`, f.auth, { content: { type: 'image', mediaUrl: 'https://example.org/wave.png', altText: 'Waving' } });
    expect((await send('%((template:greeting))%')).body.messages.map((m: Json) => m.content)).toEqual([{ type: 'image', mediaUrl: 'https://example.org/wave.png', altText: 'Waving' }]);
    await call('DELETE', `${templatesPath(f.appId)}/${t.id}`, f.auth);
    expect((await send('%((template:greeting))%')).status).toBe(400);
  });

  it("finds only the sending app's templates", async () => {
    const other = await newApp('templates elsewhere');
    expect((await create(other, { name: 'theirs', content: greeting })).status).toBe(201);
    const res = await send('%((template:theirs))%');
    expect(res.status).toBe(400);
    expect(res.body.errors[0].title).toMatch(/^content\.text: no template named "theirs" in this app/);
  });

  it('caps one post at 10 messages, storing nothing past it', async () => {
    await create(f, { name: 'pic', content: { type: 'image', mediaUrl: 'https://example.org/p.png' } });
    const before = (await listed()).length;
    const eleven = Array.from({ length: 11 }, (_, i) => `${i} %((template:pic))%`).join(' ');
    const res = await send(eleven);
    expect(res.status).toBe(400);
    expect(res.body.errors[0].title).toMatch(/^content\.text: makes \d+ messages; one post may make at most 10$/);
    const images = Array.from({ length: 11 }, (_, i) => `![](https://example.org/${i}.png)`).join(' ');
    expect((await send(images)).body.errors[0].title).toBe('content.text: makes 11 messages; one post may make at most 10');
    expect(await listed()).toHaveLength(before);
    expect((await send(Array.from({ length: 10 }, () => '%((template:pic))%').join(' '))).body.messages).toHaveLength(10);
  });

  it('refuses more distinct template names than messages a post may make before looking any up, and names markdownText when the token is there', async () => {
    const names = Array.from({ length: 11 }, (_, i) => `%((template:t${i}))%`).join(' ');
    expect((await send(names)).body.errors[0].title).toBe('content.text: names 11 templates; one post may make at most 10 messages');
    const md = await call('POST', messagesPath(f), f.auth, { author: { type: 'business' }, content: { type: 'text', markdownText: '**Hi** %((template:absent))%' } });
    expect(md.status).toBe(400);
    expect(md.body.errors[0].title).toMatch(/^content\.markdownText: no template named "absent"/);
  });

  it('reads D1 for templates only when the text names one, and then once for all of them', async () => {
    const spy = vi.spyOn(env.DB, 'prepare');
    try {
      const templateQueries = () => spy.mock.calls.filter(([sql]) => sql.includes('message_templates')).length;
      expect((await send('An ordinary message with %[a button](reply:OK) and 100% plain text')).status).toBe(201);
      expect(templateQueries()).toBe(0);
      const res = await send('%((template:sizes))% then %((template:pic))% and %((template:sizes))% again');
      expect(res.body.messages.map((m: Json) => m.content.type)).toEqual(['text', 'text', 'image', 'text', 'text', 'text']);
      expect(templateQueries()).toBe(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('leaves the token as text in a message a user writes (templates are business messages)', async () => {
    const res = await send('I typed %((template:sizes))%', { type: 'user', userId: f.userId });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.messages.map((m: Json) => m.content)).toEqual([{ type: 'text', text: 'I typed %((template:sizes))%' }]);
  });

  it('is open to integration keys, which send templates they cannot change', async () => {
    const custom = await call('POST', `/v2/apps/${f.appId}/integrations`, f.auth, { type: 'custom', webhooks: [{ target: 'https://bot.example.org/hook', triggers: ['conversation:read'] }] });
    const key = await call('POST', `/v2/apps/${f.appId}/integrations/${custom.body.integration.id}/keys`, f.auth, { displayName: 'bot' });
    const bot = basic(key.body.key.id, key.body.key.secret);
    const res = await send('%((template:sizes))%', { type: 'business' }, bot);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.messages[0].content.text).toBe('Which size?');
  });
});
