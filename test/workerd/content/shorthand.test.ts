/**
 * The shorthand parser on its own: each token of the contract, the
 * several-messages split, and text that only looks like shorthand staying
 * text character for character.
 */
import { describe, expect, it } from 'vitest';
import { expandShorthand, holdsTemplateToken, templateNames } from '../../../src/content/shorthand';
import type { Content } from '../../../src/schema/content';

const text = (t: string, extra: Record<string, unknown> = {}) => expandShorthand({ type: 'text', text: t, ...extra });

describe('shorthand', () => {
  it('leaves text without shorthand alone (undefined: send it as it is)', () => {
    expect(text('Just words, a [link](https://x.org) in Markdown and 100% sure')).toBeUndefined();
  });

  it('turns link, reply and postback buttons into actions on the text', () => {
    expect(text('Pick one %[Yes](reply:YES) %[No thanks](postback:NO_THANKS) %[Docs](https://example.org/docs?a=1)')).toEqual([
      {
        content: {
          type: 'text',
          text: 'Pick one',
          actions: [
            { type: 'reply', text: 'Yes', payload: 'YES' },
            { type: 'postback', text: 'No thanks', payload: 'NO_THANKS' },
            { type: 'link', text: 'Docs', uri: 'https://example.org/docs?a=1' },
          ],
        },
      },
    ]);
  });

  it('reads buy buttons in cents, by symbol or ISO code, whole for zero-decimal currencies', () => {
    const [one] = text('Get it: $[Buy now]($9.99) $[Kaufen](12.50 EUR) $[Koubai](¥500)')!;
    // ¥ is not a symbol the contract names: that token stays text.
    expect(one!.content).toEqual({
      type: 'text',
      text: 'Get it: $[Koubai](¥500)',
      actions: [
        { type: 'buy', text: 'Buy now', amount: 999, currency: 'usd' },
        { type: 'buy', text: 'Kaufen', amount: 1250, currency: 'eur' },
      ],
    });
    expect(text('$[Yen](500 JPY)')![0]!.content).toEqual({ type: 'text', actions: [{ type: 'buy', text: 'Yen', amount: 500, currency: 'jpy' }] });
  });

  it('splits text before an image into its own message; buttons go on the last message', () => {
    expect(text('Here is the cat ![A cat](https://example.org/cat.jpg) %[More cats](https://example.org/cats)')).toEqual([
      { content: { type: 'text', text: 'Here is the cat' } },
      { content: { type: 'image', mediaUrl: 'https://example.org/cat.jpg', altText: 'A cat', actions: [{ type: 'link', text: 'More cats', uri: 'https://example.org/cats' }] } },
    ]);
    expect(text('![](https://example.org/a.png)\nand after')).toEqual([
      { content: { type: 'image', mediaUrl: 'https://example.org/a.png' } },
      { content: { type: 'text', text: 'and after' } },
    ]);
  });

  it('reads a WhatsApp template: its fallback is the stored text, the template goes to WhatsApp', () => {
    const out = text('Hello! &((namespace=[[ns_1]] template=[[order_update]] fallback=[[Your order 42 shipped]] language=[[fr]] body_text=[[Ann]][[42]]))&');
    expect(out).toEqual([
      { content: { type: 'text', text: 'Hello!' } },
      {
        content: { type: 'text', text: 'Your order 42 shipped' },
        whatsappTemplate: {
          type: 'template',
          template: { namespace: 'ns_1', name: 'order_update', language: { policy: 'deterministic', code: 'fr' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ann' }, { type: 'text', text: '42' }] }] },
        },
      },
    ]);
    // No language: left to the integration's hsmFallbackLanguage.
    expect(text('&((template=[[hi]] fallback=[[Hi]]))&')![0]!.whatsappTemplate).toEqual({ type: 'template', template: { name: 'hi' } });
  });

  it('keeps what does not parse as text, exactly', () => {
    const odd = 'Try %[ftp](ftp://nope) or %[](reply:X) or $[Pay](nine dollars) or &((template=[[x]]))& or &((fallback=[[f]] junk template=[[t]]))&';
    expect(text(odd)).toBeUndefined();
    expect(text(`${odd} %[Ok](reply:OK)`)![0]!.content).toEqual({ type: 'text', text: odd, actions: [{ type: 'reply', text: 'Ok', payload: 'OK' }] });
  });

  it("keeps the message's own actions first and blockChatInput on the last message", () => {
    const out = text('A ![](https://example.org/x.png) %[B](reply:B)', { actions: [{ type: 'postback', text: 'Own', payload: 'OWN' }], blockChatInput: true });
    expect(out!.at(-1)!.content).toMatchObject({ type: 'image', blockChatInput: true, actions: [{ text: 'Own' }, { text: 'B' }] });
  });

  it('reads markdownText when there is no text', () => {
    expect(expandShorthand({ type: 'text', markdownText: '**Bold** %[Go](postback:GO)' })).toEqual([
      { content: { type: 'text', markdownText: '**Bold**', actions: [{ type: 'postback', text: 'Go', payload: 'GO' }] } },
    ]);
  });

  describe('stored templates: %((template:NAME))%', () => {
    const stored = new Map<string, Content>([
      ['greeting', { type: 'text', text: 'Hello there' }],
      ['choose', { type: 'text', text: 'Pick a size %[Small](postback:S) %[Large](postback:L)' }],
      ['promo', { type: 'carousel', items: [{ title: 'Shoe', actions: [{ type: 'link', text: 'See', uri: 'https://example.org/shoe' }] }] }],
      ['has.dots-and_under', { type: 'image', mediaUrl: 'https://example.org/a.png' }],
    ]);

    it('names the templates a text refers to, once each, in order, and only in the field shorthand reads', () => {
      expect(templateNames({ type: 'text', text: '%((template:b))% x %((template:a))% %((template:b))% %((template:has space))% %((template:))%' })).toEqual(['b', 'a']);
      expect(templateNames({ type: 'text', markdownText: '**%((template:md))%**' })).toEqual(['md']);
      expect(templateNames({ type: 'text', text: 'plain', htmlText: '%((template:html))%' })).toEqual([]);
      expect(templateNames({ type: 'text', text: 'No token, 100% sure ((template:x))' })).toEqual([]);
    });

    it('puts the template in place as a message of its own: text before and after are messages of their own, in order', () => {
      expect(expandShorthand({ type: 'text', text: 'Hi Ann. %((template:promo))% Anything else?' }, stored)).toEqual([
        { content: { type: 'text', text: 'Hi Ann.' } },
        { content: stored.get('promo') },
        { content: { type: 'text', text: 'Anything else?' } },
      ]);
      expect(expandShorthand({ type: 'text', text: '%((template:has.dots-and_under))%' }, stored)).toEqual([{ content: stored.get('has.dots-and_under') }]);
    });

    it("expands the template's own shorthand, and keeps the text's buttons off the template's message", () => {
      expect(expandShorthand({ type: 'text', text: '%((template:greeting))% %((template:choose))% %[Help](reply:HELP)' }, stored)).toEqual([
        { content: { type: 'text', text: 'Hello there' } },
        { content: { type: 'text', text: 'Pick a size', actions: [{ type: 'postback', text: 'Small', payload: 'S' }, { type: 'postback', text: 'Large', payload: 'L' }] } },
        { content: { type: 'text', actions: [{ type: 'reply', text: 'Help', payload: 'HELP' }] } },
      ]);
      // The text's blockChatInput still goes on the last message, whichever it is.
      expect(expandShorthand({ type: 'text', text: 'Look: %((template:greeting))%', blockChatInput: true }, stored)!.at(-1)!.content).toEqual({ type: 'text', text: 'Hello there', blockChatInput: true });
    });

    it('leaves a token as text when no template of that name is given, and never reads tokens inside a template', () => {
      expect(expandShorthand({ type: 'text', text: 'Say %((template:greeting))%' })).toBeUndefined();
      expect(expandShorthand({ type: 'text', text: 'Say %((template:unknown))% %[Ok](reply:OK)' }, stored)![0]!.content).toEqual({
        type: 'text',
        text: 'Say %((template:unknown))%',
        actions: [{ type: 'reply', text: 'Ok', payload: 'OK' }],
      });
      const nested = new Map<string, Content>([['outer', { type: 'text', text: 'Outer %((template:greeting))%' }], ...stored]);
      expect(expandShorthand({ type: 'text', text: '%((template:outer))%' }, nested)).toEqual([{ content: { type: 'text', text: 'Outer %((template:greeting))%' } }]);
    });

    it('recognises the token the template schema refuses inside a template', () => {
      expect(holdsTemplateToken('a %((template:x.y))% b')).toBe(true);
      expect(holdsTemplateToken('a %((template:x y))% b')).toBe(false);
    });
  });
});
