/**
 * The typed client against a running Parley: create a user and a
 * conversation, post a message, list the messages back. Every path,
 * parameter and body below is checked by the compiler against Parley's
 * OpenAPI document (clients/typescript), so a typo in a field is a type
 * error, not a 400.
 *
 *   npm start                        # prints: export PARLEY=… APP=… KEY=…
 *   export PARLEY=… APP=… KEY=…
 *   npx esbuild examples/typed-client.ts --bundle --platform=node --format=esm --outfile=.parley/typed-client.mjs && node .parley/typed-client.mjs
 */
import { createParleyClient, keyAuth, type Schemas } from '../clients/typescript/index';

const { PARLEY = 'http://127.0.0.1:8787', APP, KEY } = process.env;
if (!APP || !KEY) throw new Error('Set APP and KEY as `npm start` prints them');

const parley = createParleyClient(PARLEY, keyAuth(KEY));
const appId = APP;

const user = await parley.POST('/v2/apps/{appId}/users', {
  params: { path: { appId } },
  body: { externalId: `typed-client-${Date.now()}`, profile: { givenName: 'Ada' } },
});
if (user.error) throw new Error(`create user: ${user.error.errors[0]?.title}`);

const conversation = await parley.POST('/v2/apps/{appId}/conversations', {
  params: { path: { appId } },
  body: { type: 'personal', participants: [{ userId: user.data.user.id }] },
});
if (conversation.error) throw new Error(`create conversation: ${conversation.error.errors[0]?.title}`);
const conversationId = conversation.data.conversation.id;

const sent = await parley.POST('/v2/apps/{appId}/conversations/{conversationId}/messages', {
  params: { path: { appId, conversationId } },
  body: { author: { type: 'business', displayName: 'Support' }, content: { type: 'text', text: 'Hello from the typed client' } },
});
if (sent.error) throw new Error(`post message: ${sent.error.errors[0]?.title}`);

const listed = await parley.GET('/v2/apps/{appId}/conversations/{conversationId}/messages', {
  params: { path: { appId, conversationId } },
});
if (listed.error) throw new Error(`list messages: ${listed.error.errors[0]?.title}`);

const texts = listed.data.messages.map((m: Schemas['Message']) => (m.content.type === 'text' ? m.content.text : `[${m.content.type}]`));
console.log(JSON.stringify({ conversationId, seq: sent.data.messages.map((m) => m.seq), texts }));
