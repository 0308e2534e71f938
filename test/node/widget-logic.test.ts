/**
 * The Web Messenger widget's pure logic (src/widget/, no DOM): how messages
 * from the cache, REST and the socket merge into one ordered timeline, unread
 * and "Seen", forms, attachments checks, text fallbacks, language choice,
 * reconnect backoff, the localStorage record, the session made once however
 * many calls ask, and proactive campaigns (which one, how often, when, and
 * the preview the stored message replaces).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Api } from '../../src/widget/api';
import { checkAttachment, fileNameFromUrl, formatBytes, mimeAllowed } from '../../src/widget/attachments';
import { CampaignMemory, CampaignPreview, campaignDelayMs, pickCampaign, previewEntry } from '../../src/widget/campaign';
import { buildFormResponse, linkify, quickReplies, safeUri, textFallback, validateForm } from '../../src/widget/content';
import { format, pickLanguage, stringsFor } from '../../src/widget/i18n';
import { backoffDelay } from '../../src/widget/realtime';
import { VisitorSession, type SessionHooks } from '../../src/widget/session';
import { SessionStore } from '../../src/widget/session-store';
import {
  cacheable,
  dropMessages,
  isChatInputBlocked,
  isFormSubmitted,
  maxSeq,
  mergeMessages,
  pendingEntry,
  seenKey,
  setStatus,
  unreadCount,
  type Entry,
} from '../../src/widget/timeline';
import type { Campaign, Content, FormField, Message, SessionResponse } from '../../src/widget/types';
import { legibleOnWhite, readableOn, themeVariables } from '../../src/widget/ui/theme';

const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 12, minute)).toISOString();
const business = (seq: number, content: Content = { type: 'text', text: `b${seq}` }): Message => ({
  id: `m${seq}`,
  seq,
  received: at(seq),
  author: { type: 'business' },
  content,
});
const user = (seq: number, originalMessageId?: string, text = `u${seq}`): Message => ({
  id: `m${seq}`,
  seq,
  received: at(seq),
  author: { type: 'user', userId: 'u1' },
  content: { type: 'text', text },
  source: { type: 'web', ...(originalMessageId ? { originalMessageId } : {}) },
});
const merged = (...batches: Message[][]) => batches.reduce<Entry[]>((entries, batch) => mergeMessages(entries, batch).entries, []);
const seqs = (entries: Entry[]) => entries.map((e) => e.message.seq);

describe('timeline merge', () => {
  it('orders by seq whatever order messages arrive in, and shows each once', () => {
    const entries = merged([business(3), business(1)], [business(2), business(3)], [business(1)]);
    expect(seqs(entries)).toEqual([1, 2, 3]);
  });

  it('dedupes a message replayed with the same id, keeping the newest copy', () => {
    const first = business(1);
    const again = { ...business(1), content: { type: 'text', text: 'edited' } };
    const result = mergeMessages(merged([first]), [again]);
    expect(result.entries).toHaveLength(1);
    expect(result.added).toEqual([]);
    expect(result.entries[0]!.message.content.text).toBe('edited');
  });

  it('dedupes by seq even when the id differs', () => {
    const entries = merged([business(5)], [{ ...business(5), id: 'other' }]);
    expect(entries).toHaveLength(1);
  });

  it('turns the optimistic bubble into the stored message when the echo carries its clientMessageId', () => {
    const pending = pendingEntry('cm-1', { type: 'text', text: 'hi' }, 'u1', new Date(at(9)));
    const result = mergeMessages([...merged([business(1)]), pending], [user(2, 'cm-1', 'hi')]);
    expect(result.entries).toHaveLength(2);
    const mine = result.entries[1]!;
    expect(mine).toMatchObject({ key: 'cm-1', status: 'sent', clientMessageId: 'cm-1' });
    expect(mine.message.seq).toBe(2);
    expect(result.confirmed.map((e) => e.key)).toEqual(['cm-1']);
    expect(result.added).toEqual([]);
  });

  it('confirms once: the POST answer after the socket echo changes nothing', () => {
    const pending = pendingEntry('cm-1', { type: 'text', text: 'hi' }, 'u1', new Date());
    const echoed = mergeMessages([pending], [user(4, 'cm-1')]);
    const answered = mergeMessages(echoed.entries, [user(4, 'cm-1')]);
    expect(answered.entries).toHaveLength(1);
    expect(answered.confirmed).toEqual([]);
  });

  it('keeps unsent messages after every stored one, in the order they were written', () => {
    const a = pendingEntry('a', { type: 'text', text: 'a' }, 'u1', new Date());
    const b = pendingEntry('b', { type: 'text', text: 'b' }, 'u1', new Date());
    const entries = mergeMessages([a, b], [business(7), business(6)]).entries;
    expect(entries.map((e) => e.key)).toEqual(['m6', 'm7', 'a', 'b']);
  });

  it('marks failed and back to sending by clientMessageId, never a stored message', () => {
    const pending = pendingEntry('cm', { type: 'text', text: 'x' }, 'u1', new Date());
    const failed = setStatus([pending], 'cm', 'failed');
    expect(failed[0]!.status).toBe('failed');
    const stored = mergeMessages(failed, [user(1, 'cm')]).entries;
    expect(setStatus(stored, 'cm', 'failed')[0]!.status).toBe('sent');
  });

  it('caches only stored messages, the newest ones', () => {
    const pending = pendingEntry('p', { type: 'text', text: 'p' }, 'u1', new Date());
    const entries = [...merged([business(1), business(2), business(3)]), pending];
    expect(cacheable(entries, 2).map((m) => m.seq)).toEqual([2, 3]);
    expect(maxSeq(entries)).toBe(3);
  });
});

describe('messages the business deleted', () => {
  it('drops them by id, or every stored one up to a seq, and keeps what is still being sent', () => {
    const entries = [...merged([business(1), business(2), business(3)]), pendingEntry('c9', { type: 'text', text: 'unsent' }, 'u1', new Date())];
    expect(seqs(dropMessages(entries, { ids: ['m2'] }))).toEqual([1, 3, undefined]);
    expect(seqs(dropMessages(entries, { upToSeq: 2 }))).toEqual([3, undefined]);
  });
});

describe('unread and seen', () => {
  it('counts business messages after the last seen seq, not the user’s own', () => {
    const entries = merged([business(1), user(2), business(3), business(4)]);
    expect(unreadCount(entries, 0)).toBe(3);
    expect(unreadCount(entries, 3)).toBe(1);
    expect(unreadCount(entries, 4)).toBe(0);
  });

  it('puts "Seen" on the newest user message received by the business read time', () => {
    const entries = merged([user(1), business(2), user(3), user(5)]);
    expect(seenKey(entries, at(4))).toBe('m3');
    expect(seenKey(entries, at(10))).toBe('m5');
    expect(seenKey(entries, at(0))).toBeUndefined();
    expect(seenKey(entries, undefined)).toBeUndefined();
  });
});

describe('forms', () => {
  const fields: FormField[] = [
    { type: 'text', name: 'name', label: 'Name', minSize: 2, maxSize: 10 },
    { type: 'email', name: 'email', label: 'Email' },
    { type: 'select', name: 'size', label: 'Size', options: [{ name: 's', label: 'Small' }, { name: 'l', label: 'Large' }] },
  ];

  it('validates required, min and max size, and email', () => {
    expect(validateForm(fields, {})).toEqual({ name: 'required', email: 'required', size: 'required' });
    expect(validateForm(fields, { name: 'A', email: 'nope', size: 's' })).toEqual({ name: 'tooShort', email: 'email' });
    expect(validateForm(fields, { name: 'Abcdefghijk', email: 'a@b.co', size: 's' })).toEqual({ name: 'tooLong' });
    expect(validateForm(fields, { name: ' Ann ', email: 'ann@example.com', size: 'l' })).toEqual({});
  });

  it('builds a formResponse quoting the form, one typed answer per field', () => {
    const content = buildFormResponse(fields, { name: ' Ann ', email: 'ann@example.com', size: 'l' }, 'form-id');
    expect(content).toEqual({
      type: 'formResponse',
      quotedMessageId: 'form-id',
      fields: [
        { type: 'text', name: 'name', label: 'Name', text: 'Ann' },
        { type: 'email', name: 'email', label: 'Email', email: 'ann@example.com' },
        { type: 'select', name: 'size', label: 'Size', select: [{ name: 'l', label: 'Large' }] },
      ],
    });
    expect(buildFormResponse(fields.slice(0, 1), { name: 'Ann' })).not.toHaveProperty('quotedMessageId');
  });

  it('reads a form as submitted once a response quotes it, pending or stored', () => {
    const form = business(1, { type: 'form', fields, blockChatInput: true });
    expect(isFormSubmitted(merged([form]), 'm1')).toBe(false);
    const pending = pendingEntry('cm', buildFormResponse(fields, {}, 'm1'), 'u1', new Date());
    expect(isFormSubmitted([...merged([form]), pending], 'm1')).toBe(true);
    const stored: Message = { ...user(2), content: { type: 'formResponse', fields: [] }, quotedMessage: { type: 'message', message: { id: 'm1' } } };
    expect(isFormSubmitted(merged([form, stored]), 'm1')).toBe(true);
    expect(isFormSubmitted(merged([business(3, { type: 'form', fields, submitted: true })]), 'm3')).toBe(true);
  });

  it('blocks the composer only while the newest message asks for it', () => {
    const form = business(1, { type: 'form', fields, blockChatInput: true });
    expect(isChatInputBlocked(merged([form]))).toBe(true);
    expect(isChatInputBlocked(merged([form, user(2)]))).toBe(false);
    expect(isChatInputBlocked(merged([business(1, { type: 'text', text: 'hi' })]))).toBe(false);
  });
});

describe('content', () => {
  it('gives every content type a plain-text fallback', () => {
    expect(textFallback({ type: 'text', text: 'hello' })).toBe('hello');
    expect(textFallback({ type: 'text', htmlText: '<b>bold</b> move' })).toBe('bold move');
    expect(
      textFallback({
        type: 'formResponse',
        fields: [
          { type: 'text', name: 'n', label: 'Name', text: 'Ann' },
          { type: 'select', name: 's', label: 'Size', select: [{ name: 'l', label: 'Large' }] },
        ],
      }),
    ).toBe('Name: Ann\nSize: Large');
    expect(textFallback({ type: 'formResponse', textFallback: 'from server', fields: [] })).toBe('from server');
    expect(
      textFallback({ type: 'template', template: { name: 'x', components: [{ type: 'header' }, { type: 'BODY', parameters: [{ type: 'text', text: 'Order' }, { type: 'text', text: '#42' }] }] } }),
    ).toBe('Order #42');
    expect(textFallback({ type: 'template', template: { name: 'x' } })).toBe('');
    expect(textFallback({ type: 'location', coordinates: { lat: 1, long: 2 }, location: { name: 'Shop', address: '1 Main St' } })).toBe('Shop, 1 Main St');
    expect(textFallback({ type: 'carousel', items: [{ title: 'Tent', description: '2 people' }, { title: 'Boots' }] })).toBe('Tent: 2 people\nBoots');
  });

  it('makes http links clickable and nothing else', () => {
    expect(linkify('see https://example.com/a?b=1. ok')).toEqual([
      { text: 'see ' },
      { text: 'https://example.com/a?b=1', href: 'https://example.com/a?b=1' },
      { text: '. ok' },
    ]);
    expect(linkify('javascript:alert(1)')).toEqual([{ text: 'javascript:alert(1)' }]);
    expect(safeUri('javascript:alert(1)')).toBeUndefined();
    expect(safeUri(' https://x.test ')).toBe('https://x.test');
    expect(safeUri('mailto:a@b.c')).toBe('mailto:a@b.c');
  });

  it('shows quick replies only for the newest business message', () => {
    const actions = [
      { type: 'reply' as const, text: 'Yes', payload: 'Y' },
      { type: 'link' as const, text: 'Site', uri: 'https://x.test' },
      { type: 'locationRequest' as const, text: 'Where?' },
    ];
    expect(quickReplies(business(1, { type: 'text', text: 'q', actions })).map((a) => a.text)).toEqual(['Yes', 'Where?']);
    expect(quickReplies({ ...user(2), content: { type: 'text', text: 'q', actions } })).toEqual([]);
    expect(quickReplies(undefined)).toEqual([]);
  });
});

describe('attachments', () => {
  const limits = { maxBytes: 1000, types: ['image/*', 'application/pdf'] };
  it('checks size and type against config.attachments before uploading', () => {
    expect(checkAttachment({ size: 10, type: 'image/png' }, limits)).toBeUndefined();
    expect(checkAttachment({ size: 10, type: 'application/pdf' }, limits)).toBeUndefined();
    expect(checkAttachment({ size: 1001, type: 'image/png' }, limits)).toBe('tooLarge');
    expect(checkAttachment({ size: 10, type: 'application/zip' }, limits)).toBe('typeNotAllowed');
    expect(checkAttachment({ size: 10, type: '' }, limits)).toBe('typeNotAllowed');
    expect(mimeAllowed('IMAGE/JPEG', ['image/*'])).toBe(true);
    expect(mimeAllowed('imagex/jpeg', ['image/*'])).toBe(false);
  });

  it('names and sizes files for their bubble', () => {
    expect(fileNameFromUrl('https://x.test/media/abc/My%20Invoice.pdf?sig=1')).toBe('My Invoice.pdf');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(5 * 1024 * 1024)).toBe('5.0 MB');
  });
});

describe('i18n', () => {
  it('takes the init locale, else the browser languages, else English', () => {
    expect(pickLanguage('fr-CA', ['en-US'])).toBe('fr');
    expect(pickLanguage(undefined, ['de-DE', 'fr-FR', 'en'])).toBe('fr');
    expect(pickLanguage('es', ['de'])).toBe('en');
    expect(pickLanguage(undefined, [])).toBe('en');
  });

  it('has French for every English string, filled by format', () => {
    const en = stringsFor('en');
    const fr = stringsFor('fr');
    expect(Object.keys(fr).sort()).toEqual(Object.keys(en).sort());
    expect(format(fr.unread, { n: 3 })).toBe('3 messages non lus');
    expect(format(en.slide, { i: 1 })).toBe('1 of {n}');
  });
});

describe('reconnect and storage', () => {
  it('backs off exponentially from 1 s to 30 s, jittered within the upper half', () => {
    expect(backoffDelay(0, 0)).toBe(500);
    expect(backoffDelay(0, 1)).toBe(1000);
    expect(backoffDelay(3, 0.5)).toBe(6000);
    expect(backoffDelay(20, 1)).toBe(30_000);
    expect(backoffDelay(20, 0)).toBe(15_000);
  });

  it('keeps one record per app and integration, capped at the newest 100 messages', () => {
    const data = new Map<string, string>();
    const storage = { getItem: (k: string) => data.get(k) ?? null, setItem: (k: string, v: string) => void data.set(k, v), removeItem: (k: string) => void data.delete(k) };
    const a = new SessionStore('app1', 'int1', storage);
    const b = new SessionStore('app1', 'int2', storage);
    const messages = Array.from({ length: 150 }, (_, i) => business(i + 1));
    a.save({ token: 't', userId: 'u', conversationId: 'c', messages, lastSeenSeq: 7 });
    const loaded = a.load()!;
    expect(loaded.messages).toHaveLength(100);
    expect(loaded.messages[0]!.seq).toBe(51);
    expect(loaded.lastSeenSeq).toBe(7);
    expect(b.load()).toBeUndefined();
    a.clear();
    expect(a.load()).toBeUndefined();
    data.set('parley:app1:int2', '{not json');
    expect(b.load()).toBeUndefined();
  });

  it('uses white text on the brand color while it keeps 4.5:1 contrast (WCAG AA, normal text)', () => {
    // The default #0099ff gives white only 3.0:1: its bubbles get dark text (5.6:1).
    expect(readableOn('#0099ff')).toBe('#111827');
    expect(readableOn('#1a73e8')).toBe('#ffffff');
    expect(readableOn('#ffcc00')).toBe('#111827');
    expect(readableOn('#00b36b')).toBe('#111827');
  });

  it('darkens the action color as text on white (quick replies, buttons) just enough for 4.5:1, keeping one that already reads', () => {
    expect(legibleOnWhite('#0099ff')).toBe('#007acb');
    expect(legibleOnWhite('#ffcc00')).toBe('#8e7200');
    expect(legibleOnWhite('#1a73e8')).toBe('#1a73e8');
    expect(legibleOnWhite('#000000')).toBe('#000000');
    expect(themeVariables({})['--p-action-text']).toBe('#007acb');
    expect(themeVariables({ actionColor: '1a73e8' })['--p-action-text']).toBe('#1a73e8');
  });
});

/** A localStorage stand-in; `broken` throws on every call, as storage does in some private modes and sandboxed frames. */
function memoryStorage(broken = false) {
  const data = new Map<string, string>();
  const check = () => {
    if (broken) throw new DOMException('The operation is insecure.', 'SecurityError');
  };
  return {
    data,
    getItem: (k: string) => (check(), data.get(k) ?? null),
    setItem: (k: string, v: string) => void (check(), data.set(k, v)),
    removeItem: (k: string) => void (check(), data.delete(k)),
  };
}

const campaign = (id: string, extra: Partial<Campaign> = {}): Campaign => ({
  id,
  message: { author: { displayName: 'Maya from Acme', avatarUrl: 'https://acme.example/maya.png' }, content: { type: 'text', text: `offer ${id}` } },
  delaySeconds: 0,
  frequency: 'oncePerVisitor',
  ...extra,
});

describe('campaigns: which one, how often, when', () => {
  it('takes the first campaign this browser may still see: oncePerVisitor (also when unset) until shown, everyPageLoad always', () => {
    const list = [campaign('a'), campaign('b', { frequency: 'everyPageLoad' }), campaign('c')];
    expect(pickCampaign(list, new Set())?.id).toBe('a');
    expect(pickCampaign(list, new Set(['a']))?.id).toBe('b');
    expect(pickCampaign(list, new Set(['a', 'b']))?.id).toBe('b');
    expect(pickCampaign([campaign('a'), campaign('c')], new Set(['a']))?.id).toBe('c');
    const unset = { ...campaign('d') };
    delete unset.frequency;
    expect(pickCampaign([unset], new Set(['d']))).toBeUndefined();
    expect(pickCampaign([unset], new Set())?.id).toBe('d');
  });

  it('skips what it could not show: no id, no content type', () => {
    const list = [null, { id: 'x' }, { id: '', message: { content: { type: 'text' } } }, { id: 'y', message: {} }, campaign('ok')];
    expect(pickCampaign(list, new Set())?.id).toBe('ok');
    expect(pickCampaign([{ id: 'x' }], new Set())).toBeUndefined();
  });

  it('remembers shown campaigns per app and integration in storage, and survives storage that throws or holds garbage', () => {
    const storage = memoryStorage();
    const a = new CampaignMemory('app1', 'int1', storage);
    a.remember('c1');
    a.remember('c2');
    a.remember('c1');
    expect([...new CampaignMemory('app1', 'int1', storage).shown()]).toEqual(['c2', 'c1']);
    expect(new CampaignMemory('app1', 'int2', storage).shown().size).toBe(0);
    expect(storage.data.get('parley:campaigns:app1:int1')).toBe('["c2","c1"]');
    storage.data.set('parley:campaigns:app1:int1', '{not json');
    expect(a.shown().size).toBe(0);
    storage.data.set('parley:campaigns:app1:int1', '{"c1":true}');
    expect(a.shown().size).toBe(0);
    const broken = new CampaignMemory('app1', 'int1', memoryStorage(true));
    expect(() => broken.remember('c1')).not.toThrow();
    expect(broken.shown().size).toBe(0);
    expect(new CampaignMemory('app1', 'int1', undefined).shown().size).toBe(0);
  });

  it('forgets the oldest ids beyond 200', () => {
    const storage = memoryStorage();
    const memory = new CampaignMemory('app1', 'int1', storage);
    for (let i = 0; i < 205; i++) memory.remember(`c${i}`);
    const shown = memory.shown();
    expect(shown.size).toBe(200);
    expect(shown.has('c4')).toBe(false);
    expect(shown.has('c5')).toBe(true);
    expect(shown.has('c204')).toBe(true);
  });

  it('waits delaySeconds, kept within 0 .. 1 hour', () => {
    expect(campaignDelayMs({ delaySeconds: 5 })).toBe(5000);
    expect(campaignDelayMs({ delaySeconds: 0.25 })).toBe(250);
    expect(campaignDelayMs({})).toBe(0);
    expect(campaignDelayMs({ delaySeconds: -3 })).toBe(0);
    expect(campaignDelayMs({ delaySeconds: 86_400 })).toBe(3_600_000);
    expect(campaignDelayMs({ delaySeconds: Number.NaN })).toBe(0);
  });
});

describe('campaigns in the timeline', () => {
  const now = new Date(at(1));

  it('shows the campaign message as a business message with its author, unstored (no seq) and neither cached nor counted by seq', () => {
    const entry = previewEntry(campaign('c1'), now);
    expect(entry).toMatchObject({ key: 'campaign:c1', status: 'sent', campaignId: 'c1' });
    expect(entry.message).toEqual({
      id: 'campaign:c1',
      received: now.toISOString(),
      author: { type: 'business', displayName: 'Maya from Acme', avatarUrl: 'https://acme.example/maya.png' },
      content: { type: 'text', text: 'offer c1' },
    });
    expect(cacheable([entry], 100)).toEqual([]);
    expect(maxSeq([entry])).toBe(0);
    expect(unreadCount([entry], 0)).toBe(0);
    const bare = previewEntry({ id: 'c2', message: { content: { type: 'text', text: 'hi' } } }, now);
    expect(bare.message.author).toEqual({ type: 'business' });
  });

  it('gives way to the stored campaign message (seq 1) in place, whichever of it and the visitor’s own message arrives first', () => {
    const preview = previewEntry(campaign('c1'), now);
    const pending = pendingEntry('cm-1', { type: 'text', text: 'yes please' }, undefined, now);
    const stored = { ...business(1, { type: 'text', text: 'offer c1' }), author: { type: 'business' as const, displayName: 'Maya from Acme' } };

    // The POST answer (seq 2) overtakes the socket's replay of seq 1: the preview still leads.
    const answered = mergeMessages([preview, pending], [user(2, 'cm-1', 'yes please')]);
    expect(answered.entries.map((e) => e.key)).toEqual(['campaign:c1', 'cm-1']);
    const replayed = mergeMessages(answered.entries, [stored, user(2, 'cm-1', 'yes please')]);
    expect(replayed.entries.map((e) => [e.key, e.message.seq])).toEqual([
      ['campaign:c1', 1],
      ['cm-1', 2],
    ]);
    expect(replayed.added).toEqual([]);
    expect(replayed.entries[0]!.campaignId).toBeUndefined();
    expect(replayed.entries[0]!.message.id).toBe('m1');

    // In the other order, and the same message again, still once each.
    const other = mergeMessages(mergeMessages([preview, pending], [stored]).entries, [user(2, 'cm-1', 'yes please'), stored]);
    expect(other.entries.map((e) => [e.key, e.message.seq])).toEqual([
      ['campaign:c1', 1],
      ['cm-1', 2],
    ]);
    expect(cacheable(other.entries, 100).map((m) => m.seq)).toEqual([1, 2]);
  });

  it('drops the preview when the conversation’s first message is the visitor’s (the server no longer had the campaign)', () => {
    const preview = previewEntry(campaign('gone'), now);
    const pending = pendingEntry('cm-1', { type: 'text', text: 'hello?' }, undefined, now);
    const result = mergeMessages([preview, pending], [user(1, 'cm-1', 'hello?')]);
    expect(result.entries.map((e) => e.key)).toEqual(['cm-1']);
  });

  it('leaves a stored history without a preview as it was: seq 1 by the business is just a message', () => {
    expect(seqs(merged([business(2)], [business(1)]))).toEqual([1, 2]);
  });
});

describe('a campaign on one page load', () => {
  afterEach(() => void vi.useRealTimers());

  function page(fetched: () => Promise<unknown[]>, visible = false) {
    const storage = memoryStorage();
    const shown: Entry[] = [];
    const preview = new CampaignPreview({ fetch: fetched, memory: new CampaignMemory('app1', 'int1', storage), show: (e) => void shown.push(e), visible: () => visible });
    return { preview, shown, storage };
  }

  it('shows the picked campaign after its delay, remembers it, and counts 1 unread until seen', async () => {
    vi.useFakeTimers();
    const { preview, shown, storage } = page(async () => [campaign('c1', { delaySeconds: 5 })]);
    await preview.begin();
    await vi.advanceTimersByTimeAsync(4999);
    expect(shown).toEqual([]);
    expect(preview.unread()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(shown.map((e) => e.campaignId)).toEqual(['c1']);
    expect(storage.data.get('parley:campaigns:app1:int1')).toBe('["c1"]');
    expect(preview.unread()).toBe(1);
    preview.seen();
    expect(preview.unread()).toBe(0);
    expect(preview.answer()).toBe('c1');
    expect(preview.answer()).toBe('c1');
    preview.end();
    expect(preview.answer()).toBeUndefined();
  });

  it('counts nothing when the visitor already has the conversation open', async () => {
    vi.useFakeTimers();
    const { preview, shown } = page(async () => [campaign('c1')], true);
    await preview.begin();
    await vi.runAllTimersAsync();
    expect(shown).toHaveLength(1);
    expect(preview.unread()).toBe(0);
  });

  it('never shows a campaign once a session is on its way, and then has none to answer', async () => {
    vi.useFakeTimers();
    const { preview, shown, storage } = page(async () => [campaign('c1', { delaySeconds: 10 })]);
    await preview.begin();
    expect(preview.answer()).toBeUndefined();
    await vi.runAllTimersAsync();
    expect(shown).toEqual([]);
    expect(storage.data.size).toBe(0);
  });

  it('shows none, without throwing, when the campaigns fetch fails or answers nonsense', async () => {
    vi.useFakeTimers();
    for (const fetched of [() => Promise.reject(new Error('HTTP 500')), async () => 'nope' as unknown as unknown[], async () => []]) {
      const { preview, shown } = page(fetched);
      await expect(preview.begin()).resolves.toBeUndefined();
      await vi.runAllTimersAsync();
      expect(shown).toEqual([]);
      expect(preview.answer()).toBeUndefined();
    }
  });
});

describe('the visitor session', () => {
  const answer = (n: number): SessionResponse => ({ session: { token: `t${n}` }, user: { id: `u${n}` }, conversation: { id: `c${n}` } });

  function setup(campaignId?: string) {
    const calls: unknown[] = [];
    let release: () => void = () => undefined;
    const api = {
      createSession: (_integrationId: string, _device: unknown, extras: unknown) => {
        calls.push(extras);
        return new Promise<SessionResponse>((resolve) => (release = () => resolve(answer(calls.length))));
      },
    } as unknown as Api;
    const events: string[] = [];
    const hooks: SessionHooks = {
      cached: () => [business(1)],
      replacing: () => void events.push('replacing'),
      created: () => void events.push('created'),
      dropped: () => void events.push('dropped'),
      extras: () => ({ campaignId }),
    };
    const storage = memoryStorage();
    const session = new VisitorSession(api, new SessionStore('app1', 'int1', storage), 'int1', hooks);
    // device() reads the page; the Node test gives it a minimal one.
    session.device = () => ({ guid: 'g', currentUrl: 'https://shop.example/', currentTitle: '', referrer: '', browserLanguage: 'en', sdkVersion: '1', timezone: 'UTC' });
    return { session, calls, events, storage, release: () => release() };
  }

  it('creates one session however many calls ask at once, with the campaign being answered, and saves it', async () => {
    const { session, calls, events, storage, release } = setup('camp1');
    const both = Promise.all([session.ensure(), session.ensure()]);
    release();
    const [a, b] = await both;
    expect(a).toBe(b);
    expect(calls).toEqual([{ campaignId: 'camp1' }]);
    expect(events).toEqual(['replacing', 'created']);
    expect(a).toMatchObject({ token: 't1', userId: 'u1', conversationId: 'c1' });
    expect(JSON.parse(storage.data.get('parley:app1:int1')!)).toMatchObject({ token: 't1', conversationId: 'c1', messages: [{ seq: 1 }] });
    expect(await session.ensure()).toBe(a);
    expect(calls).toHaveLength(1);
  });

  it('drops a session whose token died (401) and runs the call once more with a new one', async () => {
    const { session, calls, events, release } = setup();
    const { ApiError } = await import('../../src/widget/api');
    const tokens: string[] = [];
    const running = session.with(async (s) => {
      tokens.push(s.token);
      if (s.token === 't1') throw new ApiError(401, 'expired');
      return 'ok';
    });
    release();
    await vi.waitFor(() => expect(calls).toHaveLength(2));
    release();
    expect(await running).toBe('ok');
    expect(tokens).toEqual(['t1', 't2']);
    expect(events).toEqual(['replacing', 'created', 'replacing', 'dropped', 'replacing', 'created']);
  });
});
