/**
 * The Web Messenger's business side through the official
 * sunshine-conversations-client against a locally running Parley: the `web`
 * integration created from the client's own `Web` model, read back, listed by
 * type, updated and deleted; and an attachment uploaded with
 * AttachmentsApi.uploadAttachment from Node, then served. The client's
 * IntegrationsApi answers with the generic `Integration` model, which keeps
 * only id, type, status and displayName, so the widget settings are asserted
 * on the raw response and through `Web.constructFromObject`.
 */
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import SunshineConversationsClient from 'sunshine-conversations-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apiClient, expectApiError, OBJECT_ID } from './sunco';
import { basicAuth } from './rest';

/** Classes the bundled type declarations leave out (`Web`, `AttachmentsApi`). */
const Sunco = SunshineConversationsClient as unknown as Record<string, any>;

const baseUrl = inject('parleyUrl');
const account = { keyId: inject('accountKeyId'), secret: inject('accountKeySecret'), scope: 'account' as const };
let client: SunshineConversationsClient.ApiClient;
let integrations: SunshineConversationsClient.IntegrationsApi;
let appId = '';

beforeAll(async () => {
  client = apiClient(baseUrl, 'basic', account);
  const app = await new SunshineConversationsClient.AppsApi(client).createApp({ displayName: 'web integrations' });
  appId = app.app.id;
  integrations = new SunshineConversationsClient.IntegrationsApi(client);
});

describe('IntegrationsApi with type web', () => {
  let id = '';

  it('creates it from the client\'s Web model with every setting', async () => {
    const web = new Sunco.Web('web');
    Object.assign(web, {
      displayName: 'Website',
      brandColor: '112233',
      conversationColor: '445566',
      actionColor: '778899',
      businessName: 'Acme',
      businessIconUrl: 'https://cdn.example.com/acme.png',
      buttonIconUrl: 'https://cdn.example.com/button.png',
      buttonWidth: '60',
      buttonHeight: '62',
      displayStyle: 'tab',
      backgroundImageUrl: 'https://cdn.example.com/bg.png',
      fixedIntroPane: true,
      originWhitelist: ['https://shop.example.com'],
      prechatCapture: { enabled: true, enableEmailLinking: false, fields: [{ type: 'email', name: 'email', label: 'Email' }] },
      canUserSeeConversationList: true,
      canUserCreateMoreConversations: true,
      attachmentsEnabled: false,
    });
    const info = await integrations.createIntegrationWithHttpInfo(appId, web);
    expect(info.response.status).toBe(201);
    const raw = info.response.body.integration;
    expect(raw).toMatchObject({
      type: 'web',
      status: 'active',
      displayName: 'Website',
      brandColor: '112233',
      conversationColor: '445566',
      actionColor: '778899',
      businessName: 'Acme',
      buttonWidth: '60',
      buttonHeight: '62',
      displayStyle: 'tab',
      fixedIntroPane: true,
      originWhitelist: ['https://shop.example.com'],
      prechatCapture: { enabled: true, fields: [{ type: 'email', name: 'email', label: 'Email' }] },
      canUserSeeConversationList: true,
      canUserCreateMoreConversations: true,
      attachmentsEnabled: false,
    });
    expect(raw.id).toMatch(OBJECT_ID);
    // The client's model for the answer is the generic Integration: it keeps what every type has.
    expect(info.data.integration).toMatchObject({ id: raw.id, type: 'web', displayName: 'Website' });
    const model = Sunco.Web.constructFromObject(raw);
    expect(model).toBeInstanceOf(Sunco.Web);
    expect({ brandColor: model.brandColor, displayStyle: model.displayStyle, originWhitelist: model.originWhitelist, attachmentsEnabled: model.attachmentsEnabled }).toEqual({
      brandColor: '112233',
      displayStyle: 'tab',
      originWhitelist: ['https://shop.example.com'],
      attachmentsEnabled: false,
    });
    id = raw.id;
  });

  it('gets it, and the widget config route serves it', async () => {
    const got = await integrations.getIntegrationWithHttpInfo(appId, id);
    expect(got.response.body.integration).toMatchObject({ id, type: 'web', brandColor: '112233', businessName: 'Acme' });
    const config = await fetch(`${baseUrl}/sdk/v2/apps/${appId}/integrations/${id}/config`);
    expect(config.status).toBe(200);
    expect(((await config.json()) as any).config).toMatchObject({ integrationId: id, brandColor: '112233', businessName: 'Acme' });
  });

  it('shows the defaults the Web model documents for a bare create', async () => {
    const info = await integrations.createIntegrationWithHttpInfo(appId, new Sunco.Web('web'));
    expect(info.response.status).toBe(201);
    const raw = info.response.body.integration;
    const proto = Sunco.Web.prototype;
    expect(raw).toMatchObject({
      brandColor: proto.brandColor,
      conversationColor: proto.conversationColor,
      actionColor: proto.actionColor,
      displayStyle: proto.displayStyle,
      buttonWidth: proto.buttonWidth,
      buttonHeight: proto.buttonHeight,
      fixedIntroPane: proto.fixedIntroPane,
    });
    expect(raw.brandColor).toBe('65758e');
    await integrations.deleteIntegration(appId, raw.id);
  });

  it('lists it, filtered by type', async () => {
    await integrations.createIntegration(appId, { type: 'custom', webhooks: [{ target: 'http://127.0.0.1:9/hook', triggers: ['conversation:message'] }] });
    const list = await integrations.listIntegrationsWithHttpInfo(appId, { filter: { types: 'web' } });
    expect(list.response.body.integrations.map((i: { id: string }) => i.id)).toEqual([id]);
    expect(list.data.integrations.map((i: { type: string }) => i.type)).toEqual(['web']);
  });

  it('updates it from the client\'s WebUpdate model, null putting a setting back to its default', async () => {
    const update = Object.assign(new Sunco.WebUpdate(), { displayName: 'Renamed', brandColor: 'ABCDEF', businessName: null, displayStyle: null });
    const info = await integrations.updateIntegrationWithHttpInfo(appId, id, update);
    expect(info.response.status).toBe(200);
    const raw = info.response.body.integration;
    expect(raw).toMatchObject({ id, displayName: 'Renamed', brandColor: 'abcdef', displayStyle: 'button', conversationColor: '445566' });
    expect(raw).not.toHaveProperty('businessName');
  });

  it('refuses a bad setting, naming the field', async () => {
    const color = await expectApiError(integrations.createIntegration(appId, { type: 'web', brandColor: '#fff' }), 400, 'bad_request');
    expect(color.body.errors[0].title).toContain('brandColor');
    const origin = await expectApiError(integrations.updateIntegration(appId, id, { originWhitelist: ['https://shop.example.com/path'] }), 400, 'bad_request');
    expect(origin.body.errors[0].title).toContain('originWhitelist');
    const style = await expectApiError(integrations.createIntegration(appId, { type: 'web', displayStyle: 'bubble' }), 400, 'bad_request');
    expect(style.body.errors[0].title).toContain('displayStyle');
  });

  it('deletes it; the widget config route then answers 404', async () => {
    const info = await integrations.deleteIntegrationWithHttpInfo(appId, id);
    expect(info.response.status).toBe(200);
    await expectApiError(integrations.getIntegration(appId, id), 404, 'integration_not_found');
    const config = await fetch(`${baseUrl}/sdk/v2/apps/${appId}/integrations/${id}/config`);
    expect(config.status).toBe(404);
  });
});

describe('AttachmentsApi.uploadAttachment from Node', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'parley-upload-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('uploads a file read from disk (fs.ReadStream) and the mediaUrl serves its bytes', async () => {
    const file = path.join(dir, 'report.pdf');
    writeFileSync(file, '%PDF-1.4 report');
    const attachments = new Sunco.AttachmentsApi(client);
    const info = await attachments.uploadAttachmentWithHttpInfo(appId, 'public', createReadStream(file));
    expect(info.response.status).toBe(201);
    const raw = info.response.body.attachment;
    expect(raw).toMatchObject({ mediaType: 'application/pdf', mediaUrl: expect.stringMatching(new RegExp(`^${baseUrl}/attachments/${appId}/[0-9a-f]{24}/report\\.pdf$`)) });
    expect(info.data.attachment).toMatchObject({ mediaUrl: raw.mediaUrl, mediaType: 'application/pdf' });
    const served = await fetch(raw.mediaUrl);
    expect(served.status).toBe(200);
    expect(await served.text()).toBe('%PDF-1.4 report');
    expect(served.headers.get('content-type')).toBe('application/pdf');
  });

  it('is refused without access (400), asserted with fetch and FormData since the client requires access', async () => {
    const form = new FormData();
    form.append('source', new Blob(['hi'], { type: 'text/plain' }), 'hi.txt');
    const auth = basicAuth(account.keyId, account.secret);
    const noAccess = await fetch(`${baseUrl}/v2/apps/${appId}/attachments`, { method: 'POST', headers: { authorization: auth }, body: form });
    expect(noAccess.status).toBe(400);
    const withAccess = await fetch(`${baseUrl}/v2/apps/${appId}/attachments?access=public`, { method: 'POST', headers: { authorization: auth }, body: form });
    expect(withAccess.status).toBe(201);
  });
});
