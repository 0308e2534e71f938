// Parley through Sunshine Conversations' official client (npm i sunshine-conversations-client).
// Run it after pasting the export line `npm start` prints:  node examples/official-client.mjs
import SunshineConversationsClient from 'sunshine-conversations-client';

const { PARLEY = 'http://127.0.0.1:8787', APP, KEY } = process.env;
if (!APP || !KEY) throw new Error('Set APP and KEY first: paste the export line npm start prints');
const [keyId, keySecret] = KEY.split(':');

const client = SunshineConversationsClient.ApiClient.instance;
client.basePath = PARLEY;
client.authentications.basicAuth.username = keyId;
client.authentications.basicAuth.password = keySecret;

const users = new SunshineConversationsClient.UsersApi();
const conversations = new SunshineConversationsClient.ConversationsApi();
const messages = new SunshineConversationsClient.MessagesApi();

const { user } = await users.createUser(APP, { externalId: `grace-${Date.now()}`, profile: { givenName: 'Grace' } });
const { conversation } = await conversations.createConversation(APP, { type: 'personal', participants: [{ userId: user.id }] });
const { messages: sent } = await messages.postMessage(APP, conversation.id, {
  author: { type: 'business' },
  content: { type: 'text', text: 'Hello Grace' },
});
const { messages: history } = await messages.listMessages(APP, conversation.id);
console.log(`Sent message ${sent[0].id} to conversation ${conversation.id}; it holds ${history.length} message(s).`);
