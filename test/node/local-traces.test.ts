/**
 * A local run keeps no channel credential on disk (issue 11, point 10).
 * Telegram's bot token travels in the path of every Bot API call, so any
 * store of subrequest URLs would hold it; wrangler's local observability kept
 * one under the persist folder (`.parley/state/` for `npm start`). This suite
 * starts its own Parley the way `npm start` does (startParley), in a persist
 * folder that an earlier run left a trace store in, makes Parley call a
 * Telegram fake with a fresh token (setup, an inbound message, an answer),
 * stops it, and reads every byte under the folder.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startParley } from '../../scripts/local.mjs';
import { serveFake, type ServedFake } from '../fakes/serve';
import { TelegramFake } from '../fakes/telegram';
import { Receiver, waitFor } from './receiver';
import { basicAuth, rest } from './rest';

const ACCOUNT = { id: 'act_0000000000000000000000cc', secret: 'local-traces-account-secret' };
const account = basicAuth(ACCOUNT.id, ACCOUNT.secret);
const token = `${randomInt(100_000_000, 999_999_999)}:AAH${randomBytes(24).toString('base64url')}`;
const persistTo = mkdtempSync(path.join(tmpdir(), 'parley-traces-'));
const telegram = new TelegramFake({ token });
const receiver = new Receiver();
let served: ServedFake;
let parley: Awaited<ReturnType<typeof startParley>> | undefined;

const api = (method: string, p: string, auth: string, body?: unknown) => rest(parley!.url, method, p, auth, body);

/** Every file under `dir` whose bytes hold `needle`, as it was sent or percent-encoded. */
function filesHolding(dir: string, needle: string): string[] {
  const forms = [needle, encodeURIComponent(needle)].map((s) => Buffer.from(s));
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name))
    .filter((file) => {
      const bytes = readFileSync(file);
      return forms.some((form) => bytes.includes(form));
    })
    .map((file) => path.relative(dir, file));
}

beforeAll(async () => {
  // What a run before this fix left behind: the trace store with a token in it.
  const oldStore = path.join(persistTo, 'v3', 'observability', 'miniflare-wobs-trace-store');
  mkdirSync(oldStore, { recursive: true });
  writeFileSync(path.join(oldStore, 'earlier-run.sqlite'), `http://127.0.0.1:1/bot${token}/getMe`);

  served = await serveFake(telegram);
  await receiver.listen();
  parley = await startParley({
    port: 21_000 + randomInt(0, 8000),
    persistTo,
    quiet: true,
    vars: { ACCOUNT_KEY_ID: ACCOUNT.id, ACCOUNT_KEY_SECRET: ACCOUNT.secret, MASTER_KEY: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=', PARLEY_ENV: 'local' },
  });
});

afterAll(async () => {
  await parley?.stop();
  await served?.close();
  await receiver.close();
  rmSync(persistTo, { recursive: true, force: true });
});

describe('a local Parley and channel credentials', () => {
  it('keeps no Telegram bot token anywhere under its persist folder after calling the Bot API with it', async () => {
    const app = await api('POST', '/v2/apps', account, { displayName: 'local traces' });
    expect(app.status).toBe(201);
    const appId = app.body.app.id as string;
    const hook = await api('POST', `/v2/apps/${appId}/integrations`, account, {
      type: 'custom',
      displayName: 'receiver',
      webhooks: [{ target: receiver.url, triggers: ['conversation:message'] }],
    });
    expect(hook.status).toBe(201);
    const integration = await api('POST', `/v2/apps/${appId}/integrations`, account, { type: 'telegram', token, apiBaseUrl: served.url });
    expect(integration.status, JSON.stringify(integration.body)).toBe(201);
    expect(telegram.callsTo('setWebhook')).toHaveLength(1);

    const delivered = await telegram.deliver(telegram.text(telegram.webhook!.url, { id: 4242, first_name: 'Ann' }, 'hello'));
    expect(delivered.delivered).toBe(true);
    const conversationId = await waitFor('the user message at the webhook', () =>
      receiver.events().find((e) => e.payload?.message?.content?.text === 'hello')?.payload.conversation.id,
    );
    const answer = await api('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, account, { author: { type: 'business' }, content: { type: 'text', text: 'hi Ann' } });
    expect(answer.status).toBe(201);
    await waitFor('the answer at the Telegram fake', () => telegram.callsTo('sendMessage').length > 0);

    // Whatever was going to be written has been by the time wrangler dev has stopped.
    await parley!.stop();
    expect(filesHolding(persistTo, token)).toEqual([]);
    expect(readdirSync(path.join(persistTo, 'v3'))).not.toContain('observability');
    // The scan reads what Parley did keep: the stored message is there, so an empty result is not an unreadable folder.
    expect(filesHolding(persistTo, 'hi Ann').length).toBeGreaterThan(0);
  });
});
