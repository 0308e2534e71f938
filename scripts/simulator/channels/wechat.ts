/**
 * A WeChat user writing to the official account behind Parley's WeChat
 * integration. WeChat's server configuration has no API: a customer pastes
 * Parley's webhook URL and the integration's Token into the console, which
 * checks them with a signed GET carrying `echostr`. The simulator plays that
 * console: it gives the fake the Token Parley made and makes the check
 * against Parley's `/hooks/{integrationId}`. Texts and taps on a `msgmenu`
 * option (text carrying `bizmsgmenuid`) are XML callbacks built by WeChat's
 * fake, signed with SHA-1 over token, timestamp and nonce (plain mode), each
 * with a 64-bit MsgId unique across runs. What Parley sends to
 * `custom/send` becomes bubbles: text (its `<a>` links as link buttons),
 * images, a news article as a card, and a msgmenu's options as buttons.
 */
import type { WeChatFake } from '../../../test/fakes/wechat';
import { wechatUser } from './people';
import { isObject, postWithRetries, uniqueNumber } from './wire';
import type { BubbleContent, Button, Inbound, ObservedCall, Outbound, SimChannel } from './types';

type Json = Record<string, any>;

/** Above the fake's own MsgIds (2^53 + 1 up) and unique across runs; WeChat's are 64-bit. */
const uniqueMsgId = () => (1n << 62n) + BigInt(uniqueNumber());

const ANCHOR = /<a\s[^>]*?href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/gi;

/** WeChat text shows `<a href>` as links: the text with each link's label, and the links as buttons. */
function linkedText(content: string): BubbleContent {
  const buttons: Button[] = [];
  const text = content.replace(ANCHOR, (_, href: string, label: string) => {
    buttons.push({ label: label || href, kind: 'link', url: href.replace(/%22/g, '"') });
    return label || href;
  });
  return { text, ...(buttons.length ? { buttons } : {}) };
}

/** One custom/send body as the WeChat app shows it. */
export function contentOf(body: Json): BubbleContent {
  const part = body[String(body.msgtype)];
  switch (body.msgtype) {
    case 'text':
      return linkedText(String(part?.content ?? ''));
    case 'msgmenu': {
      // Each option is tappable; tapping sends its content back as text with the option id as bizmsgmenuid.
      const buttons = ((part?.list ?? []) as unknown[]).filter(isObject).map((o): Button => ({ label: String(o.content), kind: 'reply', payload: String(o.id) }));
      const text = [part?.head_content, part?.tail_content].filter(Boolean).join('\n');
      return { ...(text ? { text } : {}), buttons };
    }
    case 'image':
      // Uploaded as temporary media, which only the access token fetches: the page cannot show it.
      return { text: `[image ${String(part?.media_id ?? '')}]` };
    case 'news': {
      const article = isObject(part?.articles?.[0]) ? part.articles[0] : {};
      const card = { title: String(article.title ?? ''), ...(article.description ? { subtitle: String(article.description) } : {}), ...(article.picurl ? { imageUrl: String(article.picurl) } : {}) };
      return { cards: [card], ...(article.url ? { buttons: [{ label: 'Open', kind: 'link' as const, url: String(article.url), card: 0 }] } : {}) };
    }
    default:
      return { text: `[${String(body.msgtype)}]` };
  }
}

export function wechatChannel(fake: WeChatFake): SimChannel {
  let hookUrl = '';
  const url = () => {
    if (!hookUrl) throw new Error('the WeChat integration is not set up');
    return hookUrl;
  };
  const built = async (msgId: bigint, request: Promise<Request>): Promise<Inbound> => ({ request: await request, channelMessageId: String(msgId) });

  return {
    id: 'wechat',
    label: 'WeChat',
    integrationType: 'wechat',
    fake: 'wechat',
    features: { buttons: true, location: false, numberedOptions: false },
    userHint: 'a name, e.g. Gao',
    defaultUser: 'Gao',
    // No token: Parley makes one, shown on the integration, as a customer would copy it into the console.
    createBody: (apiBaseUrl) => ({ type: 'wechat', displayName: 'Simulator: WeChat', appId: fake.appId, appSecret: fake.appSecret, apiBaseUrl }),
    // Setup proves the AppID and AppSecret again (stable_token) against the fresh fake; the token is kept.
    rearmBody: () => ({ appSecret: fake.appSecret }),
    async ready(integration) {
      if (!integration.webhookUrl || !integration.token) throw new Error(`integration ${integration.id} shows no webhookUrl and token for the server configuration`);
      fake.server = { token: integration.token, mode: 'plain' };
      // The console's check when the URL is saved: Parley must echo echostr.
      const echostr = String(uniqueNumber());
      const answer = await fake.deliver(await fake.verifyServer(integration.webhookUrl, echostr));
      const echoed = await answer.text();
      if (!answer.ok || echoed !== echostr) throw new Error(`Parley failed WeChat's server check: HTTP ${answer.status} ${echoed.slice(0, 100)}`);
      hookUrl = integration.webhookUrl;
    },
    user: (input) => wechatUser(input, 'Gao'),
    async text(user, text) {
      const msgId = uniqueMsgId();
      return built(msgId, fake.text(url(), user.key, text, { msgId }));
    },
    async tap(user, button) {
      if (button.kind !== 'reply') return undefined;
      const msgId = uniqueMsgId();
      return built(msgId, fake.tapMenu(url(), user.key, button.label, { msgId }));
    },
    // WeChat tries a callback three times when it gets no answer.
    deliver: (inbound) => postWithRetries(async () => inbound.request.clone()),
    observe(call: ObservedCall): Outbound[] {
      if (call.method !== 'POST' || call.path !== '/cgi-bin/message/custom/send' || call.status !== 200 || !isObject(call.result) || call.result.errcode !== 0) return [];
      const to = call.params.touser;
      return typeof to === 'string' ? [{ userKey: to, content: contentOf(call.params) }] : [];
    },
  };
}
