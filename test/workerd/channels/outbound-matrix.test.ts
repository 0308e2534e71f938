/**
 * Every v2 outbound content type on every channel, end to end. For each of
 * the five channel types a user writes in first (the window is open and a
 * client exists), then the business posts each content type through the REST
 * API; the test reads what the channel's fake received for that message and
 * the customer webhook's delivery event. A row of `CASES` names the content
 * and, per channel, the native calls it must become (or the documented
 * fallback), or the delivery:failure code it must end with.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { MetaFake } from '../../fakes/meta';
import { TelegramFake } from '../../fakes/telegram';
import { TwilioFake } from '../../fakes/twilio';
import { eventually, hook, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver, type FetchHandler } from './harness';

type Json = Record<string, any>;
type ChannelType = 'whatsapp' | 'messenger' | 'instagram' | 'telegram' | 'twilio';

/** One call Parley made to a channel, with what the channel answered. */
interface Recorded {
  method: string;
  path: string;
  /** The JSON body, or the form fields (a repeated field as an array). */
  body: Json;
  status: number;
  answer: Json | undefined;
}

/** A message the channel accepted: the method (last path segment), the fields sent, the channel's id for it. */
interface Send {
  method: string;
  body: Json;
  id: string;
}

/** Sits in front of a fake and keeps each call and its answer, so a test can read what one message became. */
class Recorder implements FetchHandler {
  readonly log: Recorded[] = [];
  constructor(private readonly fake: FetchHandler) {}

  async fetch(request: Request): Promise<Response> {
    const type = request.headers.get('content-type') ?? '';
    const raw = request.method === 'POST' ? new TextDecoder().decode(await request.clone().arrayBuffer()) : '';
    const body: Json = type.includes('json') ? JSON.parse(raw || '{}') : type.includes('form-urlencoded') ? formFields(raw) : {};
    const response = await this.fake.fetch(request);
    const answer = response.headers.get('content-type')?.includes('json') ? ((await response.clone().json()) as Json) : undefined;
    this.log.push({ method: request.method, path: new URL(request.url).pathname, body, status: response.status, answer });
    return response;
  }
}

function formFields(raw: string): Json {
  const params = new URLSearchParams(raw);
  const out: Json = {};
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    out[key] = values.length === 1 ? values[0] : values;
  }
  return out;
}

// ---- the five channels ------------------------------------------------------------------------

interface Profile {
  type: ChannelType;
  origin: string;
  recorder: Recorder;
  /** The integration create body (the fake's credentials, apiBaseUrl at the fake). */
  create: () => Json;
  /** The channel id of the user who writes in. */
  externalId: string;
  /** The user's first message, as the channel delivers it. */
  firstContact: (webhookUrl: string) => Promise<Request>;
  /** Whether a recorded call is an accepted message send, and the channel's id for it. */
  isSend: (c: Recorded) => boolean;
  idOf: (answer: Json) => string;
  /** Who a send is addressed to. */
  recipientOf: (body: Json) => unknown;
}

const meta = (type: 'whatsapp' | 'messenger' | 'instagram', origin: string, externalId: string): Profile => {
  const fake = new MetaFake({ origin });
  const pageBody = () => ({ type, pageAccessToken: fake.page.accessToken, appId: '1517776481860111', appSecret: fake.appSecret, apiBaseUrl: origin });
  return {
    type,
    origin,
    recorder: new Recorder(fake),
    create: () =>
      type === 'whatsapp' ? { type, phoneNumberId: fake.wa.phoneNumberId, accessToken: fake.wa.accessToken, appSecret: fake.appSecret, apiBaseUrl: origin } : pageBody(),
    externalId,
    firstContact: (url) => (type === 'whatsapp' ? fake.whatsapp.text(url, { waId: externalId, name: 'Mia' }, 'hi') : fake[type].text(url, externalId, 'hi')),
    isSend: (c) => c.method === 'POST' && c.path.endsWith('/messages') && c.status === 200 && !('sender_action' in c.body),
    idOf: (answer) => answer.messages?.[0]?.id ?? answer.message_id,
    recipientOf: (body) => (type === 'whatsapp' ? body.to : body.recipient?.id),
  };
};

const telegramFake = new TelegramFake({ webhookFetch: (request) => hook(request) });
const TG_USER = { id: 7202, first_name: 'Mia', username: 'mia' };
// A token that is not part of the account sid, so neither can stand in for the other.
const twilioFake = new TwilioFake({ origin: 'https://twilio-matrix.test', authToken: 'fedcba9876543210fedcba9876543210', deliver: (request) => hook(request) });

const PROFILES: Profile[] = [
  meta('whatsapp', 'https://whatsapp-matrix.test', '15550107777'),
  meta('messenger', 'https://messenger-matrix.test', '2900000000007777'),
  meta('instagram', 'https://instagram-matrix.test', '1780000000007777'),
  {
    type: 'telegram',
    origin: 'https://telegram-matrix.test',
    recorder: new Recorder(telegramFake),
    create: () => ({ type: 'telegram', token: telegramFake.token, apiBaseUrl: 'https://telegram-matrix.test' }),
    externalId: String(TG_USER.id),
    firstContact: async (url) => telegramFake.text(url, TG_USER, 'hi'),
    isSend: (c) => c.status === 200 && /\/send(?!ChatAction)[A-Za-z]+$/.test(c.path),
    idOf: (answer) => String(answer.result.message_id),
    recipientOf: (body) => String(body.chat_id),
  },
  {
    type: 'twilio',
    origin: 'https://twilio-matrix.test',
    recorder: new Recorder(twilioFake),
    create: () => ({ type: 'twilio', accountSid: twilioFake.accountSid, authToken: twilioFake.authToken, phoneNumberSid: [...twilioFake.phoneNumbers.keys()][0], apiBaseUrl: 'https://twilio-matrix.test' }),
    externalId: '+15005550777',
    firstContact: (url) => twilioFake.text(url, { from: '+15005550777' }, 'hi'),
    isSend: (c) => c.method === 'POST' && c.path.endsWith('/Messages.json') && c.status === 201,
    idOf: (answer) => answer.sid,
    recipientOf: (body) => body.To,
  },
];

// ---- what each content type must become ---------------------------------------------------------

/** The sends a message must produce, each `{method?, ...fields}` matched as a subset, in order; `check` adds exact checks. */
type Expectation = { sends: Json[]; check?: (sends: Send[]) => void } | { failure: string };

interface Case {
  name: string;
  /** The message post body without the author. */
  post: Json;
  expect: Record<ChannelType, Expectation>;
}

const MEDIA = 'https://cdn.example';
/** A signed link to a form's hosted page (src/content/page-links.ts), at the origin channels reach Parley at. */
const FORM_PAGE = expect.stringMatching(/^http:\/\/parley\.test\/pages\/form\/[\w-]+\.[\w-]+$/);
const HINT = 'Reply with the number of your choice.';
const LOCATION_HINT = 'Please reply with your location or address.';
/** A buy action's signed pay page link (src/content/page-links.ts), at the origin channels reach Parley at. */
const PAY_URL = /^http:\/\/parley\.test\/pages\/pay\/[\w-]+\.[\w-]{32}$/;
const payUrl = () => expect.stringMatching(PAY_URL);

// Native shapes, to keep the rows short.
const wa = {
  text: (body: string) => ({ type: 'text', text: { body } }),
  buttons: (body: string, buttons: [id: string, title: string][]) => ({
    type: 'interactive',
    interactive: { type: 'button', body: { text: body }, action: { buttons: buttons.map(([id, title]) => ({ type: 'reply', reply: { id, title } })) } },
  }),
  media: (type: string, link: string, caption?: string) => ({ type, [type]: { link, ...(caption ? { caption } : {}) } }),
};
const page = {
  text: (text: string, extra: Json = {}) => ({ messaging_type: 'RESPONSE', message: { text, ...extra } }),
  buttons: (text: string, buttons: Json[], extra: Json = {}) => ({ message: { attachment: { type: 'template', payload: { template_type: 'button', text, buttons } }, ...extra } }),
  media: (type: string, url: string) => ({ message: { attachment: { type, payload: { url, is_reusable: true } } } }),
  postback: (title: string, payload: string) => ({ type: 'postback', title, payload }),
  link: (title: string, url: string) => ({ type: 'web_url', title, url }),
};
const tg = (method: string, fields: Json) => ({ method, ...fields });
const inline = (...rows: Json[]) => ({ reply_markup: { inline_keyboard: rows.map((r) => [r]) } });
const noField = (field: string, index = 0) => (sends: Send[]) => expect(sends[index]!.body).not.toHaveProperty(field);
const same = (e: Expectation): Pick<Case['expect'], 'messenger' | 'instagram'> => ({ messenger: e, instagram: e });
const failsEverywhereBut = (e: Partial<Record<ChannelType, Expectation>>, code = 'uncategorized_error'): Record<ChannelType, Expectation> => ({
  whatsapp: { failure: code },
  messenger: { failure: code },
  instagram: { failure: code },
  telegram: { failure: code },
  twilio: { failure: code },
  ...e,
});

const sizes = ['XS', 'S', 'M', 'L', 'XL'];
const sizeLines = `Which size?\n\n${sizes.map((s, i) => `${i + 1}. ${s}`).join('\n')}\n\n${HINT}`;
const ratings = ['Poor', 'Fair', 'Good', 'Great'];
const carouselItems = [
  ['Tacos', 'Crunchy', 'tacos'],
  ['Ramen', 'Slurpy', 'ramen'],
  ['Curry', 'Spicy', 'curry'],
].map(([title, description, slug]) => ({
  title: title!,
  description: description!,
  mediaUrl: `${MEDIA}/${slug}.jpg`,
  actions: [
    { type: 'link', text: 'Menu', uri: `https://food.example/${slug}` },
    { type: 'postback', text: `Order ${slug}`, payload: `ORDER_${slug!.toUpperCase()}` },
  ],
}));
const template = {
  namespace: 'c8ae5f90_307a_ca4c_b8f6_d1e2a2573574',
  name: 'order_shipped',
  language: { policy: 'deterministic', code: 'en_US' },
  components: [{ type: 'body', parameters: [{ type: 'text', text: '#1042' }] }],
};

const CASES: Case[] = [
  {
    name: 'text',
    post: { content: { type: 'text', text: 'Hello from the matrix' } },
    expect: {
      whatsapp: { sends: [wa.text('Hello from the matrix')], check: noField('interactive') },
      ...same({ sends: [page.text('Hello from the matrix')], check: ([s]) => expect(s!.body.message).toEqual({ text: 'Hello from the matrix' }) }),
      telegram: { sends: [tg('sendMessage', { text: 'Hello from the matrix' })], check: (s) => (noField('reply_markup')(s), noField('parse_mode')(s)) },
      twilio: { sends: [{ Body: 'Hello from the matrix' }], check: noField('MediaUrl') },
    },
  },
  {
    name: 'text with markdownText',
    post: { content: { type: 'text', markdownText: '**Sale** ends *today*: [shop](https://shop.example)' } },
    expect: {
      whatsapp: { sends: [wa.text('*Sale* ends _today_: shop (https://shop.example)')] },
      ...same({ sends: [page.text('Sale ends today: shop: https://shop.example')] }),
      telegram: { sends: [tg('sendMessage', { text: '<b>Sale</b> ends <i>today</i>: <a href="https://shop.example">shop</a>', parse_mode: 'HTML' })] },
      twilio: { sends: [{ Body: 'Sale ends today: shop: https://shop.example' }] },
    },
  },
  {
    name: 'text with postback, link, reply and locationRequest actions',
    post: {
      content: {
        type: 'text',
        text: 'Pick one',
        actions: [
          { type: 'postback', text: 'Buy', payload: 'BUY' },
          { type: 'link', text: 'Site', uri: 'https://example.org/shop' },
          { type: 'reply', text: 'Yes', payload: 'YES' },
          { type: 'locationRequest', text: 'Send location' },
        ],
      },
    },
    expect: {
      // One link may not share a message with reply buttons on WhatsApp: it becomes a "Label: url" line.
      whatsapp: {
        sends: [
          wa.buttons('Pick one\n\nSite: https://example.org/shop', [['p:BUY', 'Buy'], ['r:YES', 'Yes']]),
          { type: 'interactive', interactive: { type: 'location_request_message', action: { name: 'send_location' } } },
        ],
      },
      ...same({
        sends: [page.buttons(`Pick one\n\n${LOCATION_HINT}`, [page.postback('Buy', 'BUY'), page.link('Site', 'https://example.org/shop')], { quick_replies: [{ content_type: 'text', title: 'Yes', payload: 'YES' }] })],
      }),
      telegram: {
        sends: [
          tg('sendMessage', { text: 'Pick one', ...inline({ text: 'Buy', callback_data: 'BUY' }, { text: 'Site', url: 'https://example.org/shop' }, { text: 'Yes', callback_data: '#2' }) }),
          tg('sendMessage', { text: 'Please share your location.', reply_markup: { keyboard: [[{ text: 'Send location', request_location: true }]] } }),
        ],
      },
      twilio: { sends: [{ Body: `Pick one\n\n1. Buy\n2. Yes\n\nSite: https://example.org/shop\n\n${LOCATION_HINT}\n\n${HINT}` }] },
    },
  },
  {
    name: 'text with a postback and a locationRequest: the location request reaches the user',
    post: { content: { type: 'text', text: 'Checkout', actions: [{ type: 'postback', text: 'Pay', payload: 'PAY' }, { type: 'locationRequest', text: 'Send location' }] } },
    expect: {
      whatsapp: { sends: [wa.buttons('Checkout', [['p:PAY', 'Pay']]), { interactive: { type: 'location_request_message' } }] },
      ...same({ sends: [page.buttons(`Checkout\n\n${LOCATION_HINT}`, [page.postback('Pay', 'PAY')])] }),
      telegram: {
        sends: [
          tg('sendMessage', { text: 'Checkout', ...inline({ text: 'Pay', callback_data: 'PAY' }) }),
          tg('sendMessage', { text: 'Please share your location.', reply_markup: { keyboard: [[{ text: 'Send location', request_location: true }]] } }),
        ],
        check: (sends) => {
          const asked = sends.some((s) => JSON.stringify(s.body.reply_markup ?? {}).includes('"request_location":true') || String(s.body.text).includes(LOCATION_HINT));
          expect(asked, 'a request_location keyboard or the location hint was sent').toBe(true);
        },
      },
      twilio: { sends: [{ Body: `Checkout\n\n1. Pay\n\n${LOCATION_HINT}\n\n${HINT}` }] },
    },
  },
  {
    name: 'text with one link',
    post: { content: { type: 'text', text: 'Read our guide', actions: [{ type: 'link', text: 'Guide', uri: 'https://example.org/guide' }] } },
    expect: {
      whatsapp: {
        sends: [{ type: 'interactive', interactive: { type: 'cta_url', body: { text: 'Read our guide' }, action: { name: 'cta_url', parameters: { display_text: 'Guide', url: 'https://example.org/guide' } } } }],
      },
      ...same({ sends: [page.buttons('Read our guide', [page.link('Guide', 'https://example.org/guide')])] }),
      telegram: { sends: [tg('sendMessage', { text: 'Read our guide', ...inline({ text: 'Guide', url: 'https://example.org/guide' }) })] },
      twilio: { sends: [{ Body: 'Read our guide\n\nGuide: https://example.org/guide' }] },
    },
  },
  {
    name: 'text with a buy action (a link to its pay page)',
    post: { content: { type: 'text', text: 'Your cake', actions: [{ type: 'buy', text: 'Buy', amount: 999, currency: 'usd' }] } },
    expect: {
      whatsapp: { sends: [{ type: 'interactive', interactive: { type: 'cta_url', body: { text: 'Your cake' }, action: { name: 'cta_url', parameters: { display_text: 'Buy', url: payUrl() } } } }] },
      ...same({ sends: [page.buttons('Your cake', [page.link('Buy', payUrl())])] }),
      telegram: { sends: [tg('sendMessage', { text: 'Your cake', ...inline({ text: 'Buy', url: payUrl() }) })] },
      twilio: { sends: [{ Body: expect.stringMatching(new RegExp(`^Your cake\\n\\nBuy: ${PAY_URL.source.slice(1, -1)}$`)) }] },
    },
  },
  {
    name: 'text with 5 postbacks (beyond WhatsApp and Messenger button limits)',
    post: { content: { type: 'text', text: 'Which size?', actions: sizes.map((s) => ({ type: 'postback', text: s, payload: `SIZE_${s}` })) } },
    expect: {
      whatsapp: { sends: [wa.text(sizeLines)], check: noField('interactive') },
      ...same({ sends: [page.text(sizeLines)], check: ([s]) => expect(s!.body.message).not.toHaveProperty('attachment') }),
      telegram: { sends: [tg('sendMessage', { text: 'Which size?', ...inline(...sizes.map((s) => ({ text: s, callback_data: `SIZE_${s}` }))) })] },
      twilio: { sends: [{ Body: sizeLines }] },
    },
  },
  {
    name: 'text with 4 quick replies',
    post: { content: { type: 'text', text: 'Rate us', actions: ratings.map((r) => ({ type: 'reply', text: r, payload: `RATE_${r.toUpperCase()}` })) } },
    expect: {
      whatsapp: {
        sends: [
          {
            type: 'interactive',
            interactive: { type: 'list', body: { text: 'Rate us' }, action: { button: 'Options', sections: [{ rows: ratings.map((r) => ({ id: `r:RATE_${r.toUpperCase()}`, title: r })) }] } },
          },
        ],
      },
      ...same({ sends: [page.text('Rate us', { quick_replies: ratings.map((r) => ({ content_type: 'text', title: r, payload: `RATE_${r.toUpperCase()}` })) })] }),
      telegram: { sends: [tg('sendMessage', { text: 'Rate us', reply_markup: { keyboard: ratings.map((r) => [{ text: r }]), one_time_keyboard: true } })] },
      twilio: { sends: [{ Body: `Rate us\n\n${ratings.map((r, i) => `${i + 1}. ${r}`).join('\n')}\n\n${HINT}` }] },
    },
  },
  {
    name: 'text with a locationRequest',
    post: { content: { type: 'text', text: 'Where should we deliver?', actions: [{ type: 'locationRequest', text: 'Send location' }] } },
    expect: {
      whatsapp: { sends: [{ type: 'interactive', interactive: { type: 'location_request_message', body: { text: 'Where should we deliver?' }, action: { name: 'send_location' } } }] },
      ...same({ sends: [page.text(`Where should we deliver?\n\n${LOCATION_HINT}`)] }),
      telegram: { sends: [tg('sendMessage', { text: 'Where should we deliver?', reply_markup: { keyboard: [[{ text: 'Send location', request_location: true }]], one_time_keyboard: true } })] },
      twilio: { sends: [{ Body: `Where should we deliver?\n\n${LOCATION_HINT}` }] },
    },
  },
  {
    name: 'image with caption',
    post: { content: { type: 'image', mediaUrl: `${MEDIA}/store.jpg`, text: 'Our new store' } },
    expect: {
      whatsapp: { sends: [wa.media('image', `${MEDIA}/store.jpg`, 'Our new store')] },
      // Messenger media take no caption: the text follows as its own message.
      ...same({ sends: [page.media('image', `${MEDIA}/store.jpg`), page.text('Our new store')] }),
      telegram: { sends: [tg('sendPhoto', { photo: `${MEDIA}/store.jpg`, caption: 'Our new store' })] },
      twilio: { sends: [{ MediaUrl: `${MEDIA}/store.jpg`, Body: 'Our new store' }] },
    },
  },
  {
    name: 'image with actions',
    post: {
      content: {
        type: 'image',
        mediaUrl: `${MEDIA}/shirt.jpg`,
        text: 'Pick a size',
        actions: [
          { type: 'postback', text: 'Small', payload: 'SHIRT_S' },
          { type: 'postback', text: 'Large', payload: 'SHIRT_L' },
        ],
      },
    },
    expect: {
      whatsapp: { sends: [wa.media('image', `${MEDIA}/shirt.jpg`), wa.buttons('Pick a size', [['p:SHIRT_S', 'Small'], ['p:SHIRT_L', 'Large']])], check: ([s]) => expect(s!.body.image).not.toHaveProperty('caption') },
      ...same({ sends: [page.media('image', `${MEDIA}/shirt.jpg`), page.buttons('Pick a size', [page.postback('Small', 'SHIRT_S'), page.postback('Large', 'SHIRT_L')])] }),
      telegram: {
        sends: [tg('sendPhoto', { photo: `${MEDIA}/shirt.jpg` }), tg('sendMessage', { text: 'Pick a size', ...inline({ text: 'Small', callback_data: 'SHIRT_S' }, { text: 'Large', callback_data: 'SHIRT_L' }) })],
        check: noField('caption'),
      },
      twilio: { sends: [{ MediaUrl: `${MEDIA}/shirt.jpg` }, { Body: `Pick a size\n\n1. Small\n2. Large\n\n${HINT}` }], check: noField('Body') },
    },
  },
  {
    name: 'file (pdf)',
    post: { content: { type: 'file', mediaUrl: `${MEDIA}/terms.pdf`, text: 'Our terms' } },
    expect: {
      whatsapp: { sends: [wa.media('document', `${MEDIA}/terms.pdf`, 'Our terms')] },
      messenger: { sends: [page.media('file', `${MEDIA}/terms.pdf`), page.text('Our terms')] },
      // Instagram sends no files: the link goes out as text under the caption.
      instagram: { sends: [page.text(`Our terms\n${MEDIA}/terms.pdf`)] },
      telegram: { sends: [tg('sendDocument', { document: `${MEDIA}/terms.pdf`, caption: 'Our terms' })] },
      twilio: { sends: [{ MediaUrl: `${MEDIA}/terms.pdf`, Body: 'Our terms' }] },
    },
  },
  {
    name: 'file with a .mp4 URL goes as video',
    post: { content: { type: 'file', mediaUrl: `${MEDIA}/clip.mp4` } },
    expect: {
      whatsapp: { sends: [wa.media('video', `${MEDIA}/clip.mp4`)] },
      ...same({ sends: [page.media('video', `${MEDIA}/clip.mp4`)] }),
      telegram: { sends: [tg('sendVideo', { video: `${MEDIA}/clip.mp4` })] },
      twilio: { sends: [{ MediaUrl: `${MEDIA}/clip.mp4` }], check: noField('Body') },
    },
  },
  {
    name: 'carousel of 3 items with image, description, link and postback',
    post: { content: { type: 'carousel', items: carouselItems } },
    expect: {
      // No native carousel: each card is its image, then its text with the postback as a reply button and the link as a line.
      whatsapp: {
        sends: carouselItems.flatMap((item) => [
          wa.media('image', item.mediaUrl),
          wa.buttons(`${item.title}\n${item.description}\n\nMenu: ${item.actions[0]!.uri}`, [[`p:${item.actions[1]!.payload}`, item.actions[1]!.text]]),
        ]),
      },
      ...same({
        sends: [
          {
            message: {
              attachment: {
                type: 'template',
                payload: {
                  template_type: 'generic',
                  elements: carouselItems.map((item) => ({
                    title: item.title,
                    subtitle: item.description,
                    image_url: item.mediaUrl,
                    buttons: [page.link('Menu', item.actions[0]!.uri!), page.postback(item.actions[1]!.text, item.actions[1]!.payload!)],
                  })),
                },
              },
            },
          },
        ],
      }),
      telegram: {
        sends: carouselItems.flatMap((item) => [
          tg('sendPhoto', { photo: item.mediaUrl }),
          tg('sendMessage', { text: `${item.title}\n${item.description}`, ...inline({ text: 'Menu', url: item.actions[0]!.uri }, { text: item.actions[1]!.text, callback_data: item.actions[1]!.payload }) }),
        ]),
      },
      // SMS: one text, links as "Label: url" lines, postbacks numbered across the cards.
      twilio: {
        sends: [{ Body: `${carouselItems.map((item, i) => `${item.title}\n${item.description}\nMenu: ${item.actions[0]!.uri}\n${i + 1}. ${item.actions[1]!.text}`).join('\n\n')}\n\n${HINT}` }],
      },
    },
  },
  {
    name: 'list with list-level actions',
    post: {
      content: {
        type: 'list',
        items: [
          { title: 'Shirt', description: 'Cotton', mediaUrl: `${MEDIA}/shirt.jpg`, actions: [{ type: 'postback', text: 'Buy shirt', payload: 'BUY_SHIRT' }] },
          { title: 'Hat', description: 'Wool', mediaUrl: `${MEDIA}/hat.jpg`, actions: [{ type: 'postback', text: 'Buy hat', payload: 'BUY_HAT' }] },
        ],
        actions: [
          { type: 'postback', text: 'More', payload: 'MORE' },
          { type: 'link', text: 'All', uri: 'https://shop.example/all' },
        ],
      },
    },
    expect: {
      whatsapp: {
        sends: [
          wa.media('image', `${MEDIA}/shirt.jpg`),
          wa.buttons('Shirt\nCotton', [['p:BUY_SHIRT', 'Buy shirt']]),
          wa.media('image', `${MEDIA}/hat.jpg`),
          wa.buttons('Hat\nWool', [['p:BUY_HAT', 'Buy hat']]),
          wa.buttons('All: https://shop.example/all', [['p:MORE', 'More']]),
        ],
      },
      ...same({
        sends: [
          {
            message: {
              attachment: {
                type: 'template',
                payload: {
                  template_type: 'generic',
                  elements: [
                    { title: 'Shirt', subtitle: 'Cotton', image_url: `${MEDIA}/shirt.jpg`, buttons: [page.postback('Buy shirt', 'BUY_SHIRT')] },
                    { title: 'Hat', subtitle: 'Wool', image_url: `${MEDIA}/hat.jpg`, buttons: [page.postback('Buy hat', 'BUY_HAT')] },
                  ],
                },
              },
            },
          },
          page.buttons('Choose an option', [page.postback('More', 'MORE'), page.link('All', 'https://shop.example/all')]),
        ],
      }),
      telegram: {
        sends: [
          tg('sendPhoto', { photo: `${MEDIA}/shirt.jpg` }),
          tg('sendMessage', { text: 'Shirt\nCotton', ...inline({ text: 'Buy shirt', callback_data: 'BUY_SHIRT' }) }),
          tg('sendPhoto', { photo: `${MEDIA}/hat.jpg` }),
          tg('sendMessage', { text: 'Hat\nWool', ...inline({ text: 'Buy hat', callback_data: 'BUY_HAT' }) }),
          tg('sendMessage', { text: 'Choose an option', ...inline({ text: 'More', callback_data: 'MORE' }, { text: 'All', url: 'https://shop.example/all' }) }),
        ],
      },
      twilio: {
        sends: [{ Body: `Shirt\nCotton\n1. Buy shirt\n\nHat\nWool\n2. Buy hat\n\n${HINT}` }, { Body: `3. More\n\nAll: https://shop.example/all\n\n${HINT}` }],
      },
    },
  },
  {
    name: 'location',
    post: { content: { type: 'location', coordinates: { lat: 52.52, long: 13.405 } } },
    expect: {
      whatsapp: { sends: [{ type: 'location', location: { latitude: 52.52, longitude: 13.405 } }] },
      ...same({ sends: [page.text('https://maps.google.com/maps?q=52.52,13.405')] }),
      telegram: { sends: [tg('sendLocation', { latitude: 52.52, longitude: 13.405 })] },
      twilio: { sends: [{ Body: 'https://maps.google.com/maps?q=52.52,13.405' }] },
    },
  },
  {
    name: 'location with name and address',
    post: { content: { type: 'location', coordinates: { lat: 52.52, long: 13.405 }, location: { name: 'Parley HQ', address: '1 Main St' } } },
    expect: {
      whatsapp: { sends: [{ type: 'location', location: { latitude: 52.52, longitude: 13.405, name: 'Parley HQ', address: '1 Main St' } }] },
      ...same({ sends: [page.text('Parley HQ, 1 Main St\nhttps://maps.google.com/maps?q=52.52,13.405')] }),
      telegram: { sends: [tg('sendVenue', { latitude: 52.52, longitude: 13.405, title: 'Parley HQ', address: '1 Main St' })] },
      twilio: { sends: [{ Body: 'Parley HQ, 1 Main St\nhttps://maps.google.com/maps?q=52.52,13.405' }] },
    },
  },
  {
    name: "template (schema 'whatsapp')",
    post: { schema: 'whatsapp', content: { type: 'template', template } },
    expect: failsEverywhereBut({
      whatsapp: {
        sends: [{ type: 'template', template: { name: 'order_shipped', language: { code: 'en_US' }, components: template.components } }],
        check: ([s]) => expect(s!.body.template).not.toHaveProperty('namespace'),
      },
    }),
  },
  {
    // No channel here has native forms: the form's text with a link to its hosted page (test/workerd/forms/ fills it in).
    name: 'form',
    post: { content: { type: 'form', text: 'Tell us your email', fields: [{ type: 'email', name: 'email', label: 'Your email' }] } },
    expect: {
      whatsapp: { sends: [{ type: 'interactive', interactive: { type: 'cta_url', body: { text: 'Tell us your email' }, action: { name: 'cta_url', parameters: { display_text: 'Fill in the form', url: FORM_PAGE } } } }] },
      ...same({ sends: [page.buttons('Tell us your email', [page.link('Fill in the form', FORM_PAGE)])] }),
      telegram: { sends: [tg('sendMessage', { text: 'Tell us your email', ...inline({ text: 'Fill in the form', url: FORM_PAGE }) })] },
      twilio: { sends: [{ Body: expect.stringMatching(/^Tell us your email\n\nFill in the form: http:\/\/parley\.test\/pages\/form\/[\w-]+\.[\w-]+$/) }] },
    },
  },
  {
    name: 'override payload for the channel',
    post: {
      content: { type: 'text', text: 'Rendered fallback' },
      override: {
        whatsapp: {
          payload: { type: 'interactive', interactive: { type: 'cta_url', body: { text: 'Track your parcel' }, action: { name: 'cta_url', parameters: { display_text: 'Track', url: 'https://track.example/1' } } } },
        },
        messenger: { payload: { message: { text: 'Native Messenger', quick_replies: [{ content_type: 'text', title: 'Hi', payload: 'NATIVE_HI' }] } } },
        instagram: { payload: { text: 'Native Instagram' } },
        telegram: { payload: { method: 'sendMessage', text: '<b>Native</b> Telegram', parse_mode: 'HTML' } },
        twilio: { payload: { Body: 'Native SMS', MediaUrl: `${MEDIA}/native.png` } },
      },
    },
    expect: {
      whatsapp: { sends: [{ type: 'interactive', interactive: { type: 'cta_url', body: { text: 'Track your parcel' } } }] },
      messenger: { sends: [{ message: { text: 'Native Messenger', quick_replies: [{ title: 'Hi', payload: 'NATIVE_HI' }] } }] },
      instagram: { sends: [{ message: { text: 'Native Instagram' } }] },
      telegram: { sends: [tg('sendMessage', { text: '<b>Native</b> Telegram', parse_mode: 'HTML' })] },
      twilio: { sends: [{ Body: 'Native SMS', MediaUrl: `${MEDIA}/native.png` }] },
    },
  },
];

// ---- the matrix -----------------------------------------------------------------------------------

const receiver = new WebhookReceiver();
let restore: () => void;

beforeAll(() => {
  const routes: Record<string, FetchHandler> = { [RECEIVER_ORIGIN]: receiver };
  for (const p of PROFILES) routes[p.origin] = p.recorder;
  const spy = routeFetch(routes);
  restore = () => spy.mockRestore();
});

afterAll(() => restore());

const OUTCOMES = ['conversation:message:delivery:channel', 'conversation:message:delivery:failure'];

describe.each(PROFILES)('$type', (profile) => {
  let app: Awaited<ReturnType<typeof newApp>>;
  let integrationId: string;
  let conversationId: string;

  beforeAll(async () => {
    app = await newApp(`outbound matrix ${profile.type}`);
    await subscribe(app.appId, app.auth);
    const created = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, profile.create());
    expect(created.status).toBe(201);
    expect(created.body.integration.status).toBe('active');
    integrationId = created.body.integration.id;
    expect((await hook(await profile.firstContact(created.body.integration.webhookUrl))).status).toBe(200);
    const added = await eventually(() => {
      const e = receiver.ofType('client:add').find((ev) => (ev.payload.client as Json).integrationId === integrationId);
      if (!e) throw new Error('no client:add yet');
      return e;
    });
    const list = await call('GET', `/v2/apps/${app.appId}/conversations?filter[userId]=${(added.payload.user as Json).id}`, app.auth);
    conversationId = list.body.conversations[0].id;
  });

  /** Posts one business message and waits for its final delivery event; returns it and what the channel accepted for it. */
  async function deliver(post: Json) {
    const mark = profile.recorder.log.length;
    const posted = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, ...post });
    expect(posted.status, JSON.stringify(posted.body)).toBe(201);
    const messageId = posted.body.messages[0].id;
    const outcome = await eventually(() => {
      const e = receiver.events.find((ev) => OUTCOMES.includes(ev.type) && (ev.payload.message as Json).id === messageId);
      if (!e) throw new Error('no delivery outcome yet');
      return e;
    });
    const attempted = profile.recorder.log.slice(mark);
    const sends: Send[] = attempted.filter(profile.isSend).map((c) => ({ method: c.path.split('/').pop()!, body: c.body, id: profile.idOf(c.answer!) }));
    return { outcome, sends, attempted };
  }

  for (const c of CASES) {
    const exp = c.expect[profile.type];
    const name = 'failure' in exp ? `${c.name}: delivery:failure ${exp.failure}, nothing sent` : `${c.name}: ${exp.sends.length} native send(s), delivery:channel with their ids`;
    it(name, async () => {
      const { outcome, sends, attempted } = await deliver(c.post);
      if ('failure' in exp) {
        expect(outcome.type).toBe('conversation:message:delivery:failure');
        expect(outcome.payload.error).toMatchObject({ code: exp.failure });
        expect(attempted.filter((a) => a.method === 'POST')).toEqual([]);
        return;
      }
      expect(outcome.type, JSON.stringify(outcome.payload.error ?? {})).toBe('conversation:message:delivery:channel');
      expect(sends.map((s) => ({ method: s.method, ...s.body }))).toMatchObject(exp.sends);
      for (const s of sends) expect(profile.recipientOf(s.body)).toBe(profile.externalId);
      expect(outcome.payload).toMatchObject({ destination: { type: profile.type, integrationId } });
      // The ids reported are ones the channel answered, in order, ending with the last message sent
      // (that every one is reported is pinned separately below).
      const reported = (outcome.payload.externalMessages as { id: string }[]).map((e) => e.id);
      expect(reported.length).toBeGreaterThan(0);
      expect(reported.at(-1)).toBe(sends.at(-1)!.id);
      expect(sends.map((s) => s.id).filter((id) => reported.includes(id))).toEqual(reported);
      exp.check?.(sends);
    });
  }

  it(
    'delivery:channel lists the id of every message the channel accepted, also when one part takes several',
    async () => {
      const mixed = CASES.find((c) => c.name.startsWith('text with postback, link, reply'))!;
      const { outcome, sends } = await deliver(mixed.post);
      expect(outcome.type).toBe('conversation:message:delivery:channel');
      expect(outcome.payload.externalMessages).toEqual(sends.map((s) => ({ id: s.id })));
    },
  );
});
