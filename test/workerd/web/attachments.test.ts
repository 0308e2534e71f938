/**
 * Attachments: the business's v2 upload (multipart field `source`,
 * `access=public`) and the widget's upload under /sdk/v2 with its smaller size
 * and type list, both stored in R2 and served so that no upload can run as a
 * page on Parley's origin.
 */
import { SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { WEB_UPLOADS } from '../../../src/api/attachments';
import { asAccount, call } from '../helpers';
import { BASE, browser, ORIGIN, startSession, webApp, type Visitor, type WebApp } from './web';

let app: WebApp;
beforeAll(async () => {
  app = await webApp();
});

const formWith = (file?: File, field = 'source') => {
  const form = new FormData();
  if (file) form.append(field, file);
  else form.append('other', 'text');
  return form;
};

async function apiUpload(query: string, form: FormData) {
  const res = await SELF.fetch(`${BASE}/v2/apps/${app.appId}/attachments${query}`, { method: 'POST', headers: { authorization: app.auth }, body: form });
  return { status: res.status, body: (await res.json()) as any };
}

async function sdkUpload(v: Visitor, body: BodyInit, on: WebApp = app, headers: Record<string, string> = {}) {
  const res = await SELF.fetch(`${BASE}/sdk/v2/apps/${on.appId}/attachments`, { method: 'POST', headers: { origin: ORIGIN, authorization: `Bearer ${v.token}`, ...headers }, body });
  return { status: res.status, body: (await res.json()) as any, headers: res.headers };
}

describe('v2 POST /v2/apps/{appId}/attachments', () => {
  it('stores the file and answers 201 with its public mediaUrl and mediaType', async () => {
    const res = await apiUpload('?access=public', formWith(new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68])], 'logo.png', { type: 'image/png' })));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.attachment).toEqual({ mediaUrl: expect.stringMatching(new RegExp(`^${BASE}/attachments/${app.appId}/[0-9a-f]{24}/logo\\.png$`)), mediaType: 'image/png', mediaSize: 15 });
  });

  it('refuses an upload without access=public: 400 naming access', async () => {
    const res = await apiUpload('', formWith(new File(['x'], 'a.txt', { type: 'text/plain' })));
    expect(res.status).toBe(400);
    expect(res.body.errors[0].title).toMatch(/^access/);
  });

  it('refuses an upload without the source field: 400 naming source', async () => {
    const res = await apiUpload('?access=public', formWith());
    expect(res.status).toBe(400);
    expect(res.body.errors[0].title).toMatch(/^source/);
  });

  it('refuses a body that is not multipart: 415', async () => {
    const res = await call('POST', `/v2/apps/${app.appId}/attachments?access=public`, app.auth, { source: 'x' });
    expect(res.status).toBe(415);
  });

  it('needs the app key', async () => {
    const res = await SELF.fetch(`${BASE}/v2/apps/${app.appId}/attachments?access=public`, { method: 'POST', body: formWith(new File(['x'], 'a.txt', { type: 'text/plain' })) });
    expect(res.status).toBe(401);
  });
});

describe('GET of an uploaded mediaUrl', () => {
  it('serves media inline with its bytes, type, nosniff and a sandboxing CSP', async () => {
    const bytes = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4]);
    const up = await apiUpload('?access=public', formWith(new File([bytes], 'photo.jpg', { type: 'image/jpeg' })));
    const res = await SELF.fetch(up.body.attachment.mediaUrl);
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toMatch(/\bsandbox\b/);
    expect(res.headers.get('content-disposition')).toMatch(/^inline; filename="photo\.jpg"/);
  });

  it('serves anything but media (an HTML page) as a download that cannot run', async () => {
    const html = '<script>alert(document.cookie)</script>';
    const up = await apiUpload('?access=public', formWith(new File([html], 'page.html', { type: 'text/html' })));
    expect(up.status).toBe(201);
    const res = await SELF.fetch(up.body.attachment.mediaUrl);
    expect(await res.text()).toBe(html);
    expect(res.headers.get('content-type')).toBe('text/html');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="page\.html"/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'.*sandbox/);
  });

  it('answers 404 for a key nobody uploaded', async () => {
    const res = await SELF.fetch(`${BASE}/attachments/${app.appId}/${'0'.repeat(24)}/nothing.png`);
    expect(res.status).toBe(404);
  });
});

describe('the widget upload', () => {
  let v: Visitor;
  beforeAll(async () => {
    v = await startSession(app);
  });

  it('stores an allowed type and answers 201 with mediaUrl, mediaType and mediaSize', async () => {
    const res = await sdkUpload(v, formWith(new File(['a,b\n1,2\n'], 'data.csv', { type: 'text/csv' })));
    expect(res.status).toBe(201);
    expect(res.body.attachment).toMatchObject({ mediaType: 'text/csv', mediaSize: 8 });
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const served = await SELF.fetch(res.body.attachment.mediaUrl);
    expect(await served.text()).toBe('a,b\n1,2\n');
  });

  it('refuses a file larger than config.attachments.maxBytes with 413', async () => {
    const config = await browser('GET', `/sdk/v2/apps/${app.appId}/integrations/${app.integrationId}/config`, undefined);
    const maxBytes = config.body.config.attachments.maxBytes as number;
    expect(maxBytes).toBe(WEB_UPLOADS.maxBytes);
    const justOver = await sdkUpload(v, formWith(new File([new Uint8Array(maxBytes + 1)], 'big.png', { type: 'image/png' })));
    expect(justOver.status).toBe(413);
    expect(justOver.body.errors[0].code).toBe('payload_too_large');
    const wayOver = await sdkUpload(v, formWith(new File([new Uint8Array(maxBytes + 1024 * 1024)], 'bigger.png', { type: 'image/png' })));
    expect(wayOver.status).toBe(413);
  });

  it('accepts a file of exactly maxBytes', async () => {
    const res = await sdkUpload(v, formWith(new File([new Uint8Array(WEB_UPLOADS.maxBytes)], 'exact.png', { type: 'image/png' })));
    expect(res.status).toBe(201);
    expect(res.body.attachment.mediaSize).toBe(WEB_UPLOADS.maxBytes);
  });

  it('refuses text/html (a page that could run) with 415', async () => {
    const res = await sdkUpload(v, formWith(new File(['<html></html>'], 'x.html', { type: 'text/html' })));
    expect(res.status).toBe(415);
    expect(res.body.errors[0].title).toMatch(/text\/html/);
  });

  it('refuses an upload when the integration has attachmentsEnabled false: 403', async () => {
    const closed = await webApp({ attachmentsEnabled: false });
    const visitor = await startSession(closed);
    const res = await sdkUpload(visitor, formWith(new File(['x'], 'a.png', { type: 'image/png' })), closed);
    expect(res.status).toBe(403);
    expect(res.body.errors[0].title).toMatch(/attachmentsEnabled/);
  });

  it('needs a session token', async () => {
    const res = await SELF.fetch(`${BASE}/sdk/v2/apps/${app.appId}/attachments`, { method: 'POST', headers: { origin: ORIGIN }, body: formWith(new File(['x'], 'a.png', { type: 'image/png' })) });
    expect(res.status).toBe(401);
  });
});

describe("a user's uploads go with them", () => {
  const uploadAs = async (on: WebApp, v: Visitor) => {
    const res = await sdkUpload(v, formWith(new File(['mine'], 'mine.txt', { type: 'text/plain' })), on);
    expect(res.status).toBe(201);
    return res.body.attachment.mediaUrl as string;
  };
  const served = async (url: string) => (await SELF.fetch(url)).status;

  it("deleting a user or scrubbing their personal information deletes the files they uploaded, and only theirs", async () => {
    const own = await webApp();
    const [gone, scrubbed, stays] = [await startSession(own), await startSession(own), await startSession(own)];
    const [goneUrl, scrubbedUrl, staysUrl] = [await uploadAs(own, gone), await uploadAs(own, scrubbed), await uploadAs(own, stays)];
    expect(await served(goneUrl)).toBe(200);
    expect((await call('DELETE', `/v2/apps/${own.appId}/users/${gone.userId}`, own.auth)).status).toBe(200);
    expect((await call('DELETE', `/v2/apps/${own.appId}/users/${scrubbed.userId}/personalinformation`, own.auth)).status).toBe(200);
    expect(await served(goneUrl)).toBe(404);
    expect(await served(scrubbedUrl)).toBe(404);
    expect(await served(staysUrl)).toBe(200);
  });

  it('deleting the app deletes every upload of the app', async () => {
    const doomed = await webApp();
    const v = await startSession(doomed);
    const url = await uploadAs(doomed, v);
    const api = await SELF.fetch(`${BASE}/v2/apps/${doomed.appId}/attachments?access=public`, { method: 'POST', headers: { authorization: doomed.auth }, body: formWith(new File(['biz'], 'price-list.pdf', { type: 'application/pdf' })) });
    const apiUrl = ((await api.json()) as any).attachment.mediaUrl as string;
    expect((await call('DELETE', `/v2/apps/${doomed.appId}`, asAccount)).status).toBe(200);
    expect(await served(url)).toBe(404);
    expect(await served(apiUrl)).toBe(404);
  });
});
