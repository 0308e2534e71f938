/**
 * The renderer against four capability profiles shaped like the channels
 * Parley speaks to (SMS, Telegram, Messenger, WhatsApp): what goes out
 * natively, what degrades to numbered or "Label: uri" lines, and which choices
 * a typed number maps back to. Profiles are declared here rather than taken
 * from the adapters so an adapter's limits can change without moving these pins.
 */
import { describe, expect, it } from 'vitest';
import type { Capabilities, Part } from '../../../src/channels/adapter';
import { render, split, UnsupportedContent, type RenderInput } from '../../../src/channels/render';
import { withTextFallback } from '../../../src/channels/text-fallback';
import type { Action, Content } from '../../../src/schema/content';

// ---- capability profiles ------------------------------------------------------

const sms: Capabilities = {
  textMax: 1600,
  captionMax: 1600,
  media: ['image'],
  postbackButtons: 0,
  linkButtons: 0,
  mixedButtons: false,
  buttonTextMax: 1600,
  quickReplies: 0,
  locationRequest: false,
  carousel: null,
  location: false,
  templates: false,
  markup: 'plain',
};

const telegram: Capabilities = {
  textMax: 4096,
  captionMax: 1024,
  media: ['image', 'file', 'video', 'audio'],
  postbackButtons: 8,
  linkButtons: 8,
  mixedButtons: true,
  buttonTextMax: 64,
  quickReplies: 12,
  locationRequest: true,
  carousel: null,
  location: true,
  templates: false,
  markup: 'html',
};

const messenger: Capabilities = {
  textMax: 2000,
  captionMax: 0,
  media: ['image', 'file', 'video', 'audio'],
  postbackButtons: 3,
  linkButtons: 3,
  mixedButtons: true,
  buttonTextMax: 20,
  quickReplies: 13,
  locationRequest: false,
  carousel: { maxItems: 10, maxButtons: 3 },
  location: false,
  templates: false,
  markup: 'plain',
};

const whatsapp: Capabilities = {
  textMax: 4096,
  captionMax: 1024,
  media: ['image', 'file', 'video', 'audio'],
  postbackButtons: 3,
  linkButtons: 1,
  mixedButtons: false,
  buttonTextMax: 20,
  quickReplies: 10,
  locationRequest: true,
  carousel: null,
  location: true,
  templates: true,
  markup: 'markdown',
};

// ---- builders -------------------------------------------------------------------

type Act<T extends Action['type']> = Extract<Action, { type: T }>;
type Items = Extract<Content, { type: 'carousel' }>['items'];

const postback = (text: string, payload: string): Act<'postback'> => ({ type: 'postback', text, payload });
const reply = (text: string, payload: string, iconUrl?: string): Act<'reply'> => ({ type: 'reply', text, payload, ...(iconUrl ? { iconUrl } : {}) });
const link = (text: string, uri: string, isDefault?: boolean): Act<'link'> => ({ type: 'link', text, uri, ...(isDefault ? { default: true } : {}) });
const webview = (text: string, uri: string, fallback: string): Act<'webview'> => ({ type: 'webview', text, uri, fallback });
const locationRequest = (text: string): Act<'locationRequest'> => ({ type: 'locationRequest', text });

const textContent = (text: string, actions?: Action[]): RenderInput['content'] => ({ type: 'text', text, ...(actions ? { actions } : {}) });
const run = (content: RenderInput['content'], caps: Capabilities, channelType = 'test') => render({ content }, caps, channelType);

const textPart = (text: string, extra: Partial<Extract<Part, { kind: 'text' }>> = {}): Part => ({ kind: 'text', text, buttons: [], replies: [], ...extra });
const HINT = 'Reply with the number of your choice.';

const SIZES = [postback('S', 'SIZE_S'), postback('M', 'SIZE_M'), postback('L', 'SIZE_L'), postback('XL', 'SIZE_XL')];

// ---- text and buttons ---------------------------------------------------------------

describe('postbacks', () => {
  it('go out as native buttons carrying their choice number when they fit', () => {
    const out = run(textContent('Pick a size', SIZES.slice(0, 2)), telegram);
    expect(out.parts).toEqual([
      textPart('Pick a size', {
        buttons: [
          { kind: 'postback', text: 'S', payload: 'SIZE_S', choice: 1 },
          { kind: 'postback', text: 'M', payload: 'SIZE_M', choice: 2 },
        ],
      }),
    ]);
    expect(out.choices).toEqual([
      { number: 1, kind: 'postback', text: 'S', payload: 'SIZE_S', numbered: false },
      { number: 2, kind: 'postback', text: 'M', payload: 'SIZE_M', numbered: false },
    ]);
  });

  it('become numbered lines with the hint, all of them, when there are more than the channel takes', () => {
    const out = run(textContent('Pick a size', SIZES), whatsapp);
    expect(out.parts).toEqual([textPart(`Pick a size\n\n1. S\n2. M\n3. L\n4. XL\n\n${HINT}`)]);
    expect(out.choices).toEqual([
      { number: 1, kind: 'postback', text: 'S', payload: 'SIZE_S', numbered: true },
      { number: 2, kind: 'postback', text: 'M', payload: 'SIZE_M', numbered: true },
      { number: 3, kind: 'postback', text: 'L', payload: 'SIZE_L', numbered: true },
      { number: 4, kind: 'postback', text: 'XL', payload: 'SIZE_XL', numbered: true },
    ]);
  });

  it('become numbered lines on a channel without buttons, and a typed number maps back to its payload', () => {
    const out = run(textContent('Pick a size', SIZES.slice(0, 3)), sms);
    expect(out.parts).toEqual([textPart(`Pick a size\n\n1. S\n2. M\n3. L\n\n${HINT}`)]);
    const typed = (answer: string) => out.choices.find((c) => c.numbered && c.number === Number(answer))?.payload;
    expect(typed('2')).toBe('SIZE_M');
    expect(typed('3')).toBe('SIZE_L');
    expect(typed('4')).toBeUndefined();
  });

  it('keep their full label in the choice while the button label is truncated to buttonTextMax', () => {
    const label = 'A very long label for a button';
    const out = run(textContent('Go', [postback(label, 'LONG')]), whatsapp);
    expect(out.parts).toEqual([textPart('Go', { buttons: [{ kind: 'postback', text: 'A very long label f…', payload: 'LONG', choice: 1 }] })]);
    expect(out.choices).toEqual([{ number: 1, kind: 'postback', text: label, payload: 'LONG', numbered: false }]);
  });

  it('with no text get a neutral body so the buttons have a message to sit on', () => {
    const out = run({ type: 'text', actions: [postback('Yes', 'YES')] }, telegram);
    expect(out.parts).toEqual([textPart('Choose an option', { buttons: [{ kind: 'postback', text: 'Yes', payload: 'YES', choice: 1 }] })]);
  });

  it('drops a buy action rather than inventing a button for it', () => {
    const buy: Act<'buy'> = { type: 'buy', text: 'Buy', amount: 500 };
    const out = run(textContent('Offer', [buy, postback('Later', 'LATER')]), telegram);
    expect(out.parts).toEqual([textPart('Offer', { buttons: [{ kind: 'postback', text: 'Later', payload: 'LATER', choice: 1 }] })]);
  });
});

describe('links', () => {
  it('go out as native link buttons where the channel has them, without a choice', () => {
    const out = run(textContent('See more', [link('Site', 'https://example.com/a'), link('Docs', 'https://example.com/b')]), telegram);
    expect(out.parts).toEqual([
      textPart('See more', {
        buttons: [
          { kind: 'link', text: 'Site', uri: 'https://example.com/a' },
          { kind: 'link', text: 'Docs', uri: 'https://example.com/b' },
        ],
      }),
    ]);
    expect(out.choices).toEqual([]);
  });

  it('become "Label: uri" lines, without the number hint, where the channel has no link buttons', () => {
    const out = run(textContent('See more', [link('Site', 'https://example.com/a'), link('Docs', 'https://example.com/b')]), sms);
    expect(out.parts).toEqual([textPart('See more\n\nSite: https://example.com/a\nDocs: https://example.com/b')]);
    expect(out.choices).toEqual([]);
  });

  it('become lines when there are more than the channel takes', () => {
    const out = run(textContent('See more', [link('Site', 'https://example.com/a'), link('Docs', 'https://example.com/b')]), whatsapp);
    expect(out.parts).toEqual([textPart('See more\n\nSite: https://example.com/a\nDocs: https://example.com/b')]);
  });

  it('open a webview through its fallback uri, as a button or as a line', () => {
    const action = webview('Open', 'https://app.example.com/webview', 'https://example.com/fallback');
    expect(run(textContent('Form', [action]), telegram).parts).toEqual([
      textPart('Form', { buttons: [{ kind: 'link', text: 'Open', uri: 'https://example.com/fallback' }] }),
    ]);
    expect(run(textContent('Form', [action]), sms).parts).toEqual([textPart('Form\n\nOpen: https://example.com/fallback')]);
  });

  it('degrade to lines beside native postbacks on a channel that cannot mix the two', () => {
    const out = run(textContent('Hello', [postback('Yes', 'YES'), link('Site', 'https://example.com/a')]), whatsapp);
    expect(out.parts).toEqual([
      textPart('Hello\n\nSite: https://example.com/a', { buttons: [{ kind: 'postback', text: 'Yes', payload: 'YES', choice: 1 }] }),
    ]);
  });

  it('stay buttons beside postbacks on a channel that can mix them', () => {
    const out = run(textContent('Hello', [postback('Yes', 'YES'), link('Site', 'https://example.com/a')]), messenger);
    expect(out.parts).toEqual([
      textPart('Hello', {
        buttons: [
          { kind: 'postback', text: 'Yes', payload: 'YES', choice: 1 },
          { kind: 'link', text: 'Site', uri: 'https://example.com/a' },
        ],
      }),
    ]);
  });

  it('stay buttons on a non-mixing channel when the postbacks went out numbered', () => {
    const out = run(textContent('Pick', [...SIZES, link('Chart', 'https://example.com/sizes')]), whatsapp);
    expect(out.parts).toEqual([
      textPart(`Pick\n\n1. S\n2. M\n3. L\n4. XL\n\n${HINT}`, { buttons: [{ kind: 'link', text: 'Chart', uri: 'https://example.com/sizes' }] }),
    ]);
  });
});

describe('reply actions', () => {
  it('become quick replies truncated to buttonTextMax, with their icon, choice and full label kept', () => {
    const long = 'x'.repeat(70);
    const out = run(textContent('Mood?', [reply('Good', 'GOOD', 'https://example.com/good.png'), reply(long, 'LONG')]), telegram);
    expect(out.parts).toEqual([
      textPart('Mood?', {
        replies: [
          { text: 'Good', payload: 'GOOD', choice: 1, iconUrl: 'https://example.com/good.png' },
          { text: `${'x'.repeat(63)}…`, payload: 'LONG', choice: 2 },
        ],
      }),
    ]);
    expect(out.choices).toEqual([
      { number: 1, kind: 'reply', text: 'Good', payload: 'GOOD', numbered: false },
      { number: 2, kind: 'reply', text: long, payload: 'LONG', numbered: false },
    ]);
  });

  it('become numbered lines on a channel without quick replies', () => {
    const out = run(textContent('Mood?', [reply('Good', 'GOOD'), reply('Bad', 'BAD')]), sms);
    expect(out.parts).toEqual([textPart(`Mood?\n\n1. Good\n2. Bad\n\n${HINT}`)]);
    expect(out.choices).toEqual([
      { number: 1, kind: 'reply', text: 'Good', payload: 'GOOD', numbered: true },
      { number: 2, kind: 'reply', text: 'Bad', payload: 'BAD', numbered: true },
    ]);
  });

  it('become numbered lines when there are more than the channel takes, and take the first numbers', () => {
    const replies = Array.from({ length: 11 }, (_, i) => reply(`R${i + 1}`, `P${i + 1}`));
    const out = run(textContent('Pick', [postback('Yes', 'YES'), ...replies]), whatsapp);
    const lines = replies.map((r, i) => `${i + 1}. ${r.text}`).join('\n');
    expect(out.parts).toEqual([textPart(`Pick\n\n${lines}\n\n${HINT}`, { buttons: [{ kind: 'postback', text: 'Yes', payload: 'YES', choice: 12 }] })]);
    expect(out.choices.filter((c) => c.numbered).map((c) => [c.number, c.payload])).toEqual(replies.map((r, i) => [i + 1, r.payload]));
    expect(out.choices.find((c) => c.number === 12)).toEqual({ number: 12, kind: 'postback', text: 'Yes', payload: 'YES', numbered: false });
  });

  it('numbers postbacks before replies when both degrade', () => {
    const out = run(textContent('Pick', [reply('Later', 'LATER'), postback('Now', 'NOW')]), sms);
    expect(out.parts).toEqual([textPart(`Pick\n\n1. Now\n2. Later\n\n${HINT}`)]);
    expect(out.choices.map((c) => [c.number, c.kind, c.payload])).toEqual([
      [1, 'postback', 'NOW'],
      [2, 'reply', 'LATER'],
    ]);
  });
});

describe('locationRequest', () => {
  it('gets a message of its own when other buttons go natively, since a channel message holds one keyboard', () => {
    const out = run({ type: 'text', text: 'Checkout', actions: [postback('Pay', 'PAY'), locationRequest('Send location')] }, telegram);
    expect(out.parts).toEqual([
      textPart('Checkout', { buttons: [{ kind: 'postback', text: 'Pay', payload: 'PAY', choice: 1 }] }),
      textPart('Please share your location.', { buttons: [{ kind: 'locationRequest', text: 'Send location' }] }),
    ]);
  });

  it('stays with the text when it is the only button', () => {
    const out = run({ type: 'text', text: 'Where are you?', actions: [locationRequest('Send location')] }, telegram);
    expect(out.parts).toEqual([textPart('Where are you?', { buttons: [{ kind: 'locationRequest', text: 'Send location' }] })]);
  });

  it('gives markdown channels the Markdown form of rich text', () => {
    const out = run({ type: 'text', text: 'Sale ends today', htmlText: '<strong>Sale</strong> ends <em>today</em>' }, whatsapp);
    expect(out.parts).toEqual([textPart('Sale ends today', { markdown: '**Sale** ends *today*' })]);
  });

  it('is a native location button where the channel has one, without a choice', () => {
    const out = run(textContent('Where are you?', [locationRequest('Share location')]), telegram);
    expect(out).toEqual({ parts: [textPart('Where are you?', { buttons: [{ kind: 'locationRequest', text: 'Share location' }] })], choices: [] });
  });

  it('becomes a text hint elsewhere', () => {
    const out = run(textContent('Where are you?', [locationRequest('Share location')]), sms);
    expect(out).toEqual({ parts: [textPart('Where are you?\n\nPlease reply with your location or address.')], choices: [] });
  });
});

// ---- splitting --------------------------------------------------------------------------

describe('long text', () => {
  it('is split at whitespace into several text parts, with the buttons and replies only on the last', () => {
    const out = run(textContent('alpha beta gamma delta epsilon zeta', [postback('Ok', 'OK'), reply('No', 'NO')]), { ...telegram, textMax: 20 });
    expect(out.parts).toEqual([
      textPart('alpha beta gamma'),
      textPart('delta epsilon zeta', {
        buttons: [{ kind: 'postback', text: 'Ok', payload: 'OK', choice: 1 }],
        replies: [{ text: 'No', payload: 'NO', choice: 2 }],
      }),
    ]);
  });

  it('includes its numbered lines in what is split', () => {
    const out = run(textContent('Sizes', SIZES), { ...sms, textMax: 20 });
    expect(out.parts).toEqual([
      textPart('Sizes\n\n1. S\n2. M'),
      textPart('3. L\n4. XL'),
      textPart('Reply with the'),
      textPart('number of your'),
      textPart('choice.'),
    ]);
    expect(out.choices).toHaveLength(4);
  });
});

describe('split()', () => {
  it('leaves text within the limit whole, and gives nothing for nothing', () => {
    expect(split('exactly10!', 10)).toEqual(['exactly10!']);
    expect(split('', 10)).toEqual([]);
  });

  it('cuts hard at the limit when there is no whitespace', () => {
    expect(split('abcdefghijklmnopqrstuvwxy', 10)).toEqual(['abcdefghij', 'klmnopqrst', 'uvwxy']);
  });

  it('prefers a line break to a later space', () => {
    expect(split('one two\nthree four five', 14)).toEqual(['one two', 'three four', 'five']);
  });

  it('uses a space when the only line break is in the first half', () => {
    expect(split('a\nbcd efgh ijkl', 10)).toEqual(['a\nbcd efgh', 'ijkl']);
  });

  it('cuts hard when the only space is in the first half, rather than sending a tiny chunk', () => {
    expect(split('ab cdefghijklmnop', 10)).toEqual(['ab cdefghi', 'jklmnop']);
  });

  it('never yields a chunk over the limit and loses no words', () => {
    const words = Array.from({ length: 200 }, (_, i) => `word${i}`);
    const chunks = split(words.join(' '), 37);
    for (const c of chunks) expect(c.length).toBeLessThanOrEqual(37);
    expect(chunks.join(' ').split(' ')).toEqual(words);
  });

  it('never yields an empty chunk, even for text opening with a run of whitespace', () => {
    const chunks = split(`${' '.repeat(15)}abcdefghijklmnop`, 10);
    expect(chunks).not.toContain('');
    expect(chunks).toEqual(['abcdefghij', 'klmnop']);
  });

  it('does not tear a surrogate pair when it cuts hard', () => {
    const text = '😀'.repeat(10);
    const chunks = split(text, 5);
    const wellFormed = (s: string) => new TextDecoder().decode(new TextEncoder().encode(s)) === s;
    expect(chunks.every(wellFormed)).toBe(true);
    expect(chunks.join('')).toBe(text);
  });
});

// ---- media --------------------------------------------------------------------------------

const CAT = 'https://cdn.example.com/cat.png';

describe('images and files', () => {
  it('carry a caption that fits in the one media part', () => {
    const out = run({ type: 'image', mediaUrl: CAT, text: 'A cat' }, telegram);
    expect(out.parts).toEqual([{ kind: 'media', media: 'image', url: CAT, caption: 'A cat', buttons: [], replies: [] }]);
  });

  it('without a caption are one bare media part', () => {
    expect(run({ type: 'image', mediaUrl: CAT }, telegram).parts).toEqual([{ kind: 'media', media: 'image', url: CAT, buttons: [], replies: [] }]);
  });

  it('send a caption longer than captionMax as a text part after the media', () => {
    const out = run({ type: 'image', mediaUrl: CAT, text: 'A caption longer than ten' }, { ...telegram, captionMax: 10 });
    expect(out.parts).toEqual([{ kind: 'media', media: 'image', url: CAT, buttons: [], replies: [] }, textPart('A caption longer than ten')]);
  });

  it('with actions send the caption and the buttons as a text part after the media', () => {
    const out = run({ type: 'image', mediaUrl: CAT, text: 'A cat', actions: [postback('Pet', 'PET')] }, telegram);
    expect(out.parts).toEqual([
      { kind: 'media', media: 'image', url: CAT, buttons: [], replies: [] },
      textPart('A cat', { buttons: [{ kind: 'postback', text: 'Pet', payload: 'PET', choice: 1 }] }),
    ]);
    expect(out.choices).toEqual([{ number: 1, kind: 'postback', text: 'Pet', payload: 'PET', numbered: false }]);
  });

  it('with actions and no caption put the alt text above the buttons', () => {
    const out = run({ type: 'image', mediaUrl: CAT, altText: 'Photo of a cat', actions: [postback('Pet', 'PET')] }, telegram);
    expect(out.parts[1]).toEqual(textPart('Photo of a cat', { buttons: [{ kind: 'postback', text: 'Pet', payload: 'PET', choice: 1 }] }));
  });

  it('go out as a text with the URL below the caption on a channel without that media kind', () => {
    const noMedia = { ...sms, media: [] };
    expect(run({ type: 'image', mediaUrl: CAT, text: 'A cat' }, noMedia).parts).toEqual([textPart(`A cat\n${CAT}`)]);
    expect(run({ type: 'image', mediaUrl: CAT }, noMedia).parts).toEqual([textPart(CAT)]);
    expect(run({ type: 'file', mediaUrl: 'https://cdn.example.com/clip.mp4', text: 'Watch' }, sms).parts).toEqual([
      textPart('Watch\nhttps://cdn.example.com/clip.mp4'),
    ]);
  });

  it('degrade their actions with the URL text on a channel without that media kind', () => {
    const out = run({ type: 'image', mediaUrl: CAT, text: 'A cat', actions: [postback('Pet', 'PET')] }, { ...sms, media: [] });
    expect(out.parts).toEqual([textPart(`A cat\n${CAT}\n\n1. Pet\n\n${HINT}`)]);
    expect(out.choices).toEqual([{ number: 1, kind: 'postback', text: 'Pet', payload: 'PET', numbered: true }]);
  });

  it('send a file by the kind its URL extension names, ignoring case, query and fragment', () => {
    const kind = (mediaUrl: string) => {
      const [part] = run({ type: 'file', mediaUrl }, telegram).parts;
      return part?.kind === 'media' ? part.media : part?.kind;
    };
    expect(kind('https://cdn.example.com/clip.MP4?sig=1')).toBe('video');
    expect(kind('https://cdn.example.com/talk.webm#t=3')).toBe('video');
    expect(kind('https://cdn.example.com/voice.ogg')).toBe('audio');
    expect(kind('https://cdn.example.com/song.mp3')).toBe('audio');
    expect(kind('https://cdn.example.com/photo.JPEG')).toBe('image');
    expect(kind('https://cdn.example.com/report.pdf')).toBe('file');
    expect(kind('https://cdn.example.com/mp4/readme')).toBe('file');
  });

  it('send a file caption that fits with the file', () => {
    expect(run({ type: 'file', mediaUrl: 'https://cdn.example.com/report.pdf', text: 'Q3' }, whatsapp).parts).toEqual([
      { kind: 'media', media: 'file', url: 'https://cdn.example.com/report.pdf', caption: 'Q3', buttons: [], replies: [] },
    ]);
  });

  it('send a video file as a plain file on a channel that takes files but not video', () => {
    const out = run({ type: 'file', mediaUrl: 'https://cdn.example.com/clip.mp4' }, { ...telegram, media: ['image', 'file'] });
    expect(out.parts).toEqual([{ kind: 'media', media: 'file', url: 'https://cdn.example.com/clip.mp4', buttons: [], replies: [] }]);
  });

  it('send the caption after the media on a channel whose media takes no caption', () => {
    const out = run({ type: 'image', mediaUrl: CAT, text: 'A cat' }, messenger);
    expect(out.parts).toEqual([{ kind: 'media', media: 'image', url: CAT, buttons: [], replies: [] }, textPart('A cat')]);
  });
});

// ---- carousels and lists ------------------------------------------------------------------

const TEE = 'https://shop.example/tee';
const MUG = 'https://shop.example/mug';
const items: Items = [
  { title: 'Tee', description: 'Cotton', mediaUrl: 'https://shop.example/tee.png', actions: [link('Details', TEE), postback('Buy', 'BUY_TEE')] },
  { title: 'Mug', actions: [postback('Buy', 'BUY_MUG'), link('View', MUG)] },
];

describe('carousel on a channel with a native carousel', () => {
  it('is one carousel part whose postback buttons carry choices, and whose default link becomes the card tap', () => {
    const withDefault: Items = [{ ...items[0]!, actions: [link('Open', 'https://shop.example/tee?tap', true), ...items[0]!.actions] }, items[1]!];
    const out = run({ type: 'carousel', items: withDefault }, messenger);
    expect(out.parts).toEqual([
      {
        kind: 'carousel',
        cards: [
          {
            title: 'Tee',
            description: 'Cotton',
            mediaUrl: 'https://shop.example/tee.png',
            buttons: [
              { kind: 'link', text: 'Details', uri: TEE },
              { kind: 'postback', text: 'Buy', payload: 'BUY_TEE', choice: 1 },
            ],
            defaultUri: 'https://shop.example/tee?tap',
          },
          {
            title: 'Mug',
            buttons: [
              { kind: 'postback', text: 'Buy', payload: 'BUY_MUG', choice: 2 },
              { kind: 'link', text: 'View', uri: MUG },
            ],
          },
        ],
      },
    ]);
    expect(out.choices).toEqual([
      { number: 1, kind: 'postback', text: 'Buy', payload: 'BUY_TEE', numbered: false },
      { number: 2, kind: 'postback', text: 'Buy', payload: 'BUY_MUG', numbered: false },
    ]);
  });

  it('takes a webview default as the card tap through its fallback', () => {
    const tap: Act<'webview'> = { ...webview('Open', 'https://app.example.com/tee', 'https://shop.example/tee'), default: true };
    const out = run({ type: 'carousel', items: [{ title: 'Tee', actions: [tap, postback('Buy', 'BUY_TEE')] }] }, messenger);
    expect(out.parts).toEqual([{ kind: 'carousel', cards: [{ title: 'Tee', buttons: [{ kind: 'postback', text: 'Buy', payload: 'BUY_TEE', choice: 1 }], defaultUri: TEE }] }]);
  });

  it('keeps only maxButtons buttons per card, and no choice for the ones dropped', () => {
    const out = run(
      { type: 'carousel', items: [{ title: 'Tee', actions: [postback('A', 'PA'), postback('B', 'PB'), postback('C', 'PC')] }] },
      { ...messenger, carousel: { maxItems: 10, maxButtons: 2 } },
    );
    expect(out.parts).toEqual([
      {
        kind: 'carousel',
        cards: [
          {
            title: 'Tee',
            buttons: [
              { kind: 'postback', text: 'A', payload: 'PA', choice: 1 },
              { kind: 'postback', text: 'B', payload: 'PB', choice: 2 },
            ],
          },
        ],
      },
    ]);
    expect(out.choices.map((c) => c.payload)).toEqual(['PA', 'PB']);
  });

  it('is chunked into carousels of maxItems cards, numbering choices across them', () => {
    const five: Items = Array.from({ length: 5 }, (_, i) => ({ title: `Item ${i + 1}`, actions: [postback('Pick', `PICK_${i + 1}`)] }));
    const out = run({ type: 'carousel', items: five }, { ...messenger, carousel: { maxItems: 2, maxButtons: 3 } });
    expect(out.parts.map((p) => (p.kind === 'carousel' ? p.cards.map((c) => c.title) : p.kind))).toEqual([
      ['Item 1', 'Item 2'],
      ['Item 3', 'Item 4'],
      ['Item 5'],
    ]);
    expect(out.choices.map((c) => [c.number, c.payload])).toEqual(five.map((_, i) => [i + 1, `PICK_${i + 1}`]));
  });

  it('truncates titles to 80 characters and button labels to buttonTextMax', () => {
    const out = run({ type: 'carousel', items: [{ title: 't'.repeat(100), actions: [postback('A label over twenty chars', 'P')] }] }, messenger);
    expect(out.parts).toEqual([
      { kind: 'carousel', cards: [{ title: `${'t'.repeat(79)}…`, buttons: [{ kind: 'postback', text: 'A label over twenty…', payload: 'P', choice: 1 }] }] },
    ]);
  });
});

describe('carousel on a channel with buttons but no carousel', () => {
  it('is one message per card: its image, then its title and description with its buttons', () => {
    const out = run({ type: 'carousel', items }, telegram);
    expect(out.parts).toEqual([
      { kind: 'media', media: 'image', url: 'https://shop.example/tee.png', buttons: [], replies: [] },
      textPart('Tee\nCotton', {
        buttons: [
          { kind: 'link', text: 'Details', uri: TEE },
          { kind: 'postback', text: 'Buy', payload: 'BUY_TEE', choice: 1 },
        ],
      }),
      textPart('Mug', {
        buttons: [
          { kind: 'postback', text: 'Buy', payload: 'BUY_MUG', choice: 2 },
          { kind: 'link', text: 'View', uri: MUG },
        ],
      }),
    ]);
    expect(out.choices.map((c) => [c.number, c.payload, c.numbered])).toEqual([
      [1, 'BUY_TEE', false],
      [2, 'BUY_MUG', false],
    ]);
  });

  it('degrades each card by the channel button rules (links as lines beside postbacks where they cannot mix)', () => {
    const out = run({ type: 'carousel', items }, whatsapp);
    expect(out.parts).toEqual([
      { kind: 'media', media: 'image', url: 'https://shop.example/tee.png', buttons: [], replies: [] },
      textPart(`Tee\nCotton\n\nDetails: ${TEE}`, { buttons: [{ kind: 'postback', text: 'Buy', payload: 'BUY_TEE', choice: 1 }] }),
      textPart(`Mug\n\nView: ${MUG}`, { buttons: [{ kind: 'postback', text: 'Buy', payload: 'BUY_MUG', choice: 2 }] }),
    ]);
  });

  it('skips card images on a channel that cannot show images', () => {
    const out = run({ type: 'carousel', items }, { ...telegram, media: [] });
    expect(out.parts.map((p) => p.kind)).toEqual(['text', 'text']);
  });
});

describe('carousel on a channel without any buttons', () => {
  it('is one text: links as lines, postbacks numbered continuously across cards, then the hint', () => {
    const out = run({ type: 'carousel', items }, sms);
    expect(out.parts).toEqual([textPart(`Tee\nCotton\nDetails: ${TEE}\n1. Buy\n\nMug\n2. Buy\nView: ${MUG}\n\n${HINT}`)]);
    expect(out.choices).toEqual([
      { number: 1, kind: 'postback', text: 'Buy', payload: 'BUY_TEE', numbered: true },
      { number: 2, kind: 'postback', text: 'Buy', payload: 'BUY_MUG', numbered: true },
    ]);
  });

  it('has no hint when no card offers a postback', () => {
    const out = run({ type: 'carousel', items: [{ title: 'Tee', actions: [link('Details', TEE)] }, { title: 'Mug', actions: [link('View', MUG)] }] }, sms);
    expect(out).toEqual({ parts: [textPart(`Tee\nDetails: ${TEE}\n\nMug\nView: ${MUG}`)], choices: [] });
  });
});

describe('list', () => {
  const listActions = [postback('More', 'MORE'), link('All', 'https://shop.example/all')];

  it('renders its items as a carousel and its own actions as a following text part', () => {
    const out = run({ type: 'list', items, actions: listActions }, messenger);
    expect(out.parts).toHaveLength(2);
    expect(out.parts[0]).toMatchObject({ kind: 'carousel', cards: [{ title: 'Tee' }, { title: 'Mug' }] });
    expect(out.parts[1]).toEqual(
      textPart('Choose an option', {
        buttons: [
          { kind: 'postback', text: 'More', payload: 'MORE', choice: 3 },
          { kind: 'link', text: 'All', uri: 'https://shop.example/all' },
        ],
      }),
    );
    expect(out.choices.map((c) => c.payload)).toEqual(['BUY_TEE', 'BUY_MUG', 'MORE']);
  });

  it('without buttons is the numbered card text, then its actions numbered on from the cards', () => {
    const out = run({ type: 'list', items, actions: listActions }, sms);
    expect(out.parts).toEqual([
      textPart(`Tee\nCotton\nDetails: ${TEE}\n1. Buy\n\nMug\n2. Buy\nView: ${MUG}\n\n${HINT}`),
      textPart(`3. More\n\nAll: https://shop.example/all\n\n${HINT}`),
    ]);
    expect(out.choices.find((c) => c.number === 3)).toEqual({ number: 3, kind: 'postback', text: 'More', payload: 'MORE', numbered: true });
  });

  it('without list actions is exactly the carousel rendering', () => {
    expect(run({ type: 'list', items }, telegram)).toEqual(run({ type: 'carousel', items }, telegram));
    expect(run({ type: 'list', items }, sms)).toEqual(run({ type: 'carousel', items }, sms));
  });
});

// ---- location, template, form, override ----------------------------------------------------

describe('location', () => {
  const office: RenderInput['content'] = { type: 'location', coordinates: { lat: 52.52, long: 13.405 }, location: { name: 'Office', address: 'Main St 1' } };

  it('is a native pin with its name and address where the channel has one', () => {
    expect(run(office, telegram)).toEqual({ parts: [{ kind: 'location', lat: 52.52, long: 13.405, name: 'Office', address: 'Main St 1' }], choices: [] });
  });

  it('is the stored fallback text elsewhere', () => {
    expect(run(withTextFallback(office as Content), sms).parts).toEqual([textPart('Office, Main St 1\nhttps://maps.google.com/maps?q=52.52,13.405')]);
  });

  it('is a maps link when no text was stored', () => {
    expect(run({ type: 'location', coordinates: { lat: -33.9, long: 18.4 } }, sms).parts).toEqual([textPart('https://maps.google.com/maps?q=-33.9,18.4')]);
  });
});

describe('template, form and override', () => {
  const template: RenderInput['content'] = { type: 'template', template: { name: 'order_update', language: { code: 'en_US' } } };

  it('sends a template natively where the channel has templates', () => {
    expect(run(template, whatsapp, 'whatsapp')).toEqual({ parts: [{ kind: 'template', template: { name: 'order_update', language: { code: 'en_US' } } }], choices: [] });
  });

  it('refuses a template elsewhere as unsupported content', () => {
    expect(() => run(template, telegram, 'telegram')).toThrow(UnsupportedContent);
    expect(() => run(template, telegram, 'telegram')).toThrow(/template on telegram/);
  });

  // Forms never reach the renderer: the deliveries consumer makes them text and a link to the hosted form page first
  // (pinned in outbound-matrix.test.ts and test/workerd/forms/).
  it('refuses form responses on every channel', () => {
    const formResponse: RenderInput['content'] = { type: 'formResponse', fields: [{ type: 'email', name: 'email', label: 'Email', email: 'a@b.co' }] };
    for (const caps of [sms, telegram, messenger, whatsapp]) expect(() => run(formResponse, caps)).toThrow(UnsupportedContent);
    try {
      run(formResponse, messenger, 'messenger');
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'unsupported_content', message: 'Unsupported message type formResponse on messenger' });
    }
  });

  it("sends the override for the channel's type as the single native part, with no choices", () => {
    const out = render({ content: textContent('Pick', SIZES), override: { telegram: { payload: { text: 'raw', reply_markup: {} } } } }, telegram, 'telegram');
    expect(out).toEqual({ parts: [{ kind: 'native', payload: { text: 'raw', reply_markup: {} } }], choices: [] });
  });

  it("sends an override in place of content the channel would refuse", () => {
    const out = render({ content: template, override: { telegram: { payload: { text: 'hi' } } } }, telegram, 'telegram');
    expect(out.parts).toEqual([{ kind: 'native', payload: { text: 'hi' } }]);
  });

  it('ignores an override for another channel type, and one without a payload', () => {
    const plain = run(textContent('Pick', SIZES.slice(0, 2)), telegram, 'telegram');
    expect(render({ content: textContent('Pick', SIZES.slice(0, 2)), override: { messenger: { payload: { text: 'raw' } } } }, telegram, 'telegram')).toEqual(plain);
    expect(render({ content: textContent('Pick', SIZES.slice(0, 2)), override: { telegram: {} } }, telegram, 'telegram')).toEqual(plain);
    expect(plain.parts[0]).toMatchObject({ kind: 'text', text: 'Pick' });
  });
});

// ---- markup ----------------------------------------------------------------------------------

describe('html', () => {
  it('rides along as part.html on a channel whose markup is html', () => {
    const out = run({ type: 'text', text: 'Hello bold', htmlText: 'Hello <b>bold</b>' }, telegram);
    expect(out.parts).toEqual([textPart('Hello bold', { html: 'Hello <b>bold</b>' })]);
  });

  it('is left off on a plain-text channel', () => {
    const [part] = run({ type: 'text', text: 'Hello bold', htmlText: 'Hello <b>bold</b>' }, sms).parts;
    expect(part).toEqual(textPart('Hello bold'));
    expect(part).not.toHaveProperty('html');
  });

  it('is left off when numbered or link lines were added to the text, since the html lacks them', () => {
    const [part] = run({ type: 'text', text: 'Pick', htmlText: '<b>Pick</b>', actions: SIZES }, { ...telegram, postbackButtons: 2 }).parts;
    expect(part).toEqual(textPart(`Pick\n\n1. S\n2. M\n3. L\n4. XL\n\n${HINT}`));
    expect(part).not.toHaveProperty('html');
  });

  it('is left off when it is longer than the channel takes', () => {
    const [part] = run({ type: 'text', text: 'Hi', htmlText: '<b>Hi</b>' }, { ...telegram, textMax: 5 }).parts;
    expect(part).not.toHaveProperty('html');
  });

  it('comes from markdownText once the stored content has its fallbacks', () => {
    const stored = withTextFallback({ type: 'text', markdownText: 'Hello **bold**' } as Content);
    expect(run(stored, telegram).parts).toEqual([textPart('Hello bold', { html: 'Hello <strong>bold</strong>' })]);
    expect(run(stored, sms).parts).toEqual([textPart('Hello bold')]);
  });

  it('sends a message that has only htmlText', () => {
    const stored = withTextFallback({ type: 'text', htmlText: '<b>Sale</b> today' } as Content);
    const out = run(stored, telegram);
    expect(out.parts).toHaveLength(1);
    expect(out.parts[0]).toMatchObject({ kind: 'text', html: '<b>Sale</b> today' });
  });
});

// ---- determinism ------------------------------------------------------------------------------

describe('determinism', () => {
  it('renders the same input to deep-equal parts and choices every time, without touching the input', () => {
    const inputs: RenderInput['content'][] = [
      { type: 'list', items, actions: [postback('More', 'MORE'), link('All', 'https://shop.example/all')] },
      textContent('x '.repeat(1000), [...SIZES, reply('Bye', 'BYE'), link('Site', 'https://example.com'), locationRequest('Where')]),
      { type: 'image', mediaUrl: CAT, text: 'A cat', actions: [postback('Pet', 'PET')] },
    ];
    for (const content of inputs) {
      const before = structuredClone(content);
      for (const caps of [sms, telegram, messenger, whatsapp]) {
        expect(run(content, caps)).toEqual(run(content, caps));
      }
      expect(content).toEqual(before);
    }
  });
});
