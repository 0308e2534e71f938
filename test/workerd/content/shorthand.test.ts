/**
 * The shorthand parser on its own: each token of the contract, the
 * several-messages split, and text that only looks like shorthand staying
 * text character for character.
 */
import { describe, expect, it } from 'vitest';
import { expandShorthand } from '../../../src/content/shorthand';

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
});
