/**
 * Links to Parley's hosted pages — a pay page for each `buy` action, a form
 * page for each `form` — for channels that cannot show those natively. A
 * link is signed (HMAC under MASTER_KEY) and names the app, conversation,
 * message, user and action it was made for, so the page needs no session
 * and cannot be pointed at anyone else's message. Before rendering, the
 * deliveries consumer turns each buy action into a link action and a form
 * into its text with a link action (`withPageLinks`); the renderer then
 * shows them as it shows any link: a button where the channel has buttons,
 * a "Label: url" line on SMS and email.
 */
import type { Env } from '../env';
import { StatusError } from '../http/errors';
import type { Action, Content } from '../schema/content';
import { fromBase64Url, hmac, safeEqual, toBase64Url } from '../channels/signing';

export type PageKind = 'pay' | 'form';

/** What a page link was made for. `item` is the carousel/list item of a buy action (absent at message level), `action` its index. */
export interface PageRef {
  kind: PageKind;
  appId: string;
  conversationId: string;
  messageId: string;
  userId: string;
  item?: number;
  action?: number;
}

interface Wire {
  k: PageKind;
  a: string;
  c: string;
  m: string;
  u: string;
  i?: number;
  x?: number;
}

async function signature(env: Env, body: string): Promise<string> {
  if (!env.MASTER_KEY) throw new StatusError(500, 'configuration_error', 'MASTER_KEY is not set');
  return toBase64Url(await hmac('SHA-256', `parley-pages:${env.MASTER_KEY}`, body)).slice(0, 32);
}

/** `{base}/pages/{kind}/{token}` for `ref`; `base` is the origin channels reach this Parley at. */
export async function pageUrl(env: Env, base: string, ref: PageRef): Promise<string> {
  const wire: Wire = { k: ref.kind, a: ref.appId, c: ref.conversationId, m: ref.messageId, u: ref.userId, ...(ref.item !== undefined ? { i: ref.item } : {}), ...(ref.action !== undefined ? { x: ref.action } : {}) };
  const body = toBase64Url(new TextEncoder().encode(JSON.stringify(wire)));
  return `${base.replace(/\/+$/, '')}/pages/${ref.kind}/${body}.${await signature(env, body)}`;
}

/** The reference a page token was signed for, or undefined for a forged, altered or other-kind token. */
export async function readPageToken(env: Env, kind: PageKind, token: string): Promise<PageRef | undefined> {
  const [body, sig, extra] = token.split('.');
  if (!body || !sig || extra !== undefined || !safeEqual(sig, await signature(env, body))) return undefined;
  let w: Wire;
  try {
    w = JSON.parse(new TextDecoder().decode(fromBase64Url(body))) as Wire;
  } catch {
    return undefined;
  }
  if (w.k !== kind) return undefined;
  return { kind: w.k, appId: w.a, conversationId: w.c, messageId: w.m, userId: w.u, ...(w.i !== undefined ? { item: w.i } : {}), ...(w.x !== undefined ? { action: w.x } : {}) };
}

/** The label of a form's link where the form carries no text of its own. */
export const FORM_LINK_TEXT = 'Fill in the form';
/** What a form without text of its own says above its link. */
const FORM_TEXT = 'Please fill in this form.';

type Ids = Omit<PageRef, 'kind' | 'item' | 'action'>;

/**
 * The content as channels without native payments or forms get it: each buy
 * action a link to its pay page, a form its text and a link to its form
 * page. Content with neither comes back as it is (the same object).
 */
export async function withPageLinks(env: Env, base: string, ids: Ids, content: Content): Promise<Content> {
  const payLinks = async (actions: Action[] | undefined, item?: number): Promise<Action[] | undefined> => {
    if (!actions?.some((a) => a.type === 'buy')) return actions;
    return Promise.all(
      actions.map(async (a, action) =>
        a.type === 'buy' ? ({ type: 'link', text: a.text, uri: await pageUrl(env, base, { kind: 'pay', ...ids, ...(item !== undefined ? { item } : {}), action }) } as Action) : a,
      ),
    );
  };
  switch (content.type) {
    case 'text':
    case 'image': {
      const actions = await payLinks(content.actions);
      return actions === content.actions ? content : ({ ...content, actions } as Content);
    }
    case 'carousel':
    case 'list': {
      const items = await Promise.all(content.items.map(async (it, i) => ({ ...it, actions: (await payLinks(it.actions, i)) ?? it.actions })));
      const actions = content.type === 'list' ? await payLinks(content.actions) : undefined;
      const changed = items.some((it, i) => it.actions !== content.items[i]!.actions) || (content.type === 'list' && actions !== content.actions);
      return changed ? ({ ...content, items, ...(content.type === 'list' ? { actions } : {}) } as Content) : content;
    }
    case 'form': {
      const uri = await pageUrl(env, base, { kind: 'form', ...ids });
      return { type: 'text', text: content.text ?? FORM_TEXT, actions: [{ type: 'link', text: FORM_LINK_TEXT, uri }] };
    }
    default:
      return content;
  }
}
