/**
 * A person emailing the support address behind Parley's Mailgun
 * integration. Parley's setup creates a Mailgun route that forwards mail for
 * that address to it; each mail the person writes is posted by Mailgun's
 * fake as the route's signed form (timestamp, token and HMAC), with its own
 * Message-Id and, for a reply, In-Reply-To and References naming the thread,
 * and the history quoted below as a mail client quotes it. What Parley sends
 * to `/v3/{domain}/messages` becomes a mail in the person's inbox, headers
 * and both bodies kept; its "reply with #N" mailto links become buttons that
 * answer with that reply. Each send then plays Mailgun's `delivered` event.
 */
import type { InboundMail, MailgunFake } from '../../../test/fakes/mailgun';
import { emailUser } from './people';
import { isObject, uniqueNumber } from './wire';
import type { Button, Inbound, Mail, MailDraft, ObservedCall, Outbound, SimChannel, SimUser } from './types';

const SEND = /^\/v3\/([^/]+)\/messages$/;
const ANCHOR = /<a\s[^>]*?href="(mailto:[^"]*)"[^>]*>([\s\S]*?)<\/a>/gi;

const plainText = (html: string) =>
  html
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');

/** The bare, lowercased address in `Name <address>` or `address`. */
const addressOf = (value: string) => (/<([^<>]+)>\s*$/.exec(value)?.[1] ?? value).trim().toLowerCase();

/** A form field Parley sent, as one string (the fakes' observer keeps repeated fields as arrays). */
function field(params: Record<string, unknown>, name: string): string | undefined {
  const value = params[name];
  if (typeof value === 'string') return value;
  return Array.isArray(value) && typeof value[0] === 'string' ? value[0] : undefined;
}

/**
 * The mail's mailto links that pre-fill a reply (Parley's "reply with #N"
 * options), as buttons: a tap sends that reply, threaded under the mail.
 */
function replyButtons(mail: Mail): Button[] {
  const buttons: Button[] = [];
  for (const [, href, label] of (mail.html ?? '').matchAll(ANCHOR)) {
    let link: URL;
    try {
      link = new URL(plainText(href!));
    } catch {
      continue;
    }
    const body = link.searchParams.get('body');
    if (!body) continue;
    const subject = link.searchParams.get('subject') ?? mail.subject;
    buttons.push({ label: plainText(label!).trim() || body, kind: 'reply', payload: body, context: { subject, replyingTo: { mail, at: Date.now() } } });
  }
  return buttons;
}

const reSubject = (subject: string) => (/^re:/i.test(subject.trim()) ? subject.trim() : `Re: ${subject.trim()}`);

/** The thread a reply continues: the answered mail's References (or In-Reply-To), then its own id. */
function referencesOf(mail: Mail): string {
  const earlier = (mail.references ?? mail.inReplyTo ?? '').split(/\s+/).filter(Boolean);
  return [...new Set([...earlier, mail.messageId])].slice(-20).join(' ');
}

/** The answered mail under the reply, as a mail client quotes it (Parley strips it again). */
function quote(replyingTo: { mail: Mail; at: number }): string {
  const lines = (replyingTo.mail.text ?? '').replace(/\r\n?/g, '\n').split('\n');
  return `On ${new Date(replyingTo.at).toUTCString()}, ${replyingTo.mail.from} wrote:\n${lines.map((l) => `> ${l}`).join('\n')}`;
}

export function emailChannel(fake: MailgunFake): SimChannel {
  const [domain] = [...fake.domains];
  const incoming = `support@${domain}`;
  let hookUrl = '';
  const url = () => {
    if (!hookUrl) throw new Error('the Mailgun integration is not set up');
    return hookUrl;
  };
  /** Each built mail, for delivery: Mailgun signs every attempt afresh, so a retry is built again. */
  const drafts = new WeakMap<Request, InboundMail>();

  const mail = async (user: SimUser, draft: MailDraft): Promise<Inbound> => {
    const replying = draft.replyingTo;
    const subject = draft.subject.trim() || (replying ? reSubject(replying.mail.subject) : '');
    const messageId = `<${uniqueNumber().toString(36)}.${crypto.randomUUID().slice(0, 8)}@${user.key.split('@')[1] ?? 'example.net'}>`;
    const thread = replying ? { 'In-Reply-To': replying.mail.messageId, References: referencesOf(replying.mail) } : undefined;
    const text = replying ? `${draft.text}\n\n${quote(replying)}` : draft.text;
    const built: InboundMail = { from: user.key, ...(user.name ? { fromName: user.name } : {}), recipient: incoming, subject, text, messageId, ...(thread ? { headers: thread } : {}) };
    const request = await fake.inbound(url(), built);
    drafts.set(request, built);
    const shown: Mail = {
      from: user.name ? `${user.name} <${user.key}>` : user.key,
      to: incoming,
      subject,
      messageId,
      ...(thread ? { inReplyTo: thread['In-Reply-To'], references: thread.References } : {}),
      text,
    };
    return { request, channelMessageId: messageId, content: { text: draft.text, mail: shown } };
  };

  /** Like Mailgun, the delivered event comes after the send has answered, to the URL its event webhooks are set to. */
  const delivered = (recipient: string, messageId: string) => {
    setTimeout(() => {
      // A send can come before setup finished (Parley retrying an earlier run's mail): no event URL is known yet.
      if (!hookUrl) return;
      void fake
        .event(hookUrl, { event: 'delivered', recipient, messageId })
        .then((request) => fetch(request))
        .then((response) => response.arrayBuffer())
        .catch(() => undefined);
    }, 300).unref?.();
  };

  return {
    id: 'email',
    label: 'Email',
    integrationType: 'mailgun',
    fake: 'mailgun',
    features: { buttons: true, location: false, numberedOptions: false },
    userHint: 'an email address or a name, e.g. Eve',
    defaultUser: 'Eve',
    mailTo: incoming,
    createBody: (apiBaseUrl) => ({
      type: 'mailgun',
      displayName: 'Simulator: Email',
      apiKey: fake.apiKey,
      signingKey: fake.signingKey,
      domain,
      incomingAddress: incoming,
      hideUnsubscribeLink: false,
      apiBaseUrl,
    }),
    // Any change runs setup again, which finds the fresh fake has no route and creates one; the keys are fixed (fakes.ts).
    rearmBody: () => ({ hideUnsubscribeLink: false }),
    async ready(integration) {
      const forward = `forward("${integration.webhookUrl}")`;
      if (!integration.webhookUrl || ![...fake.routes.values()].some((r) => r.actions.includes(forward))) {
        throw new Error(`Parley has not created a Mailgun route forwarding ${incoming} to it`);
      }
      hookUrl = integration.webhookUrl;
    },
    user: (input) => emailUser(input, 'Eve'),
    text: (user, text) => mail(user, { subject: 'Hello', text }),
    mail,
    async tap(user, button) {
      if (button.kind !== 'reply' || !isObject(button.context)) return undefined;
      const { subject, replyingTo } = button.context as { subject: string; replyingTo: MailDraft['replyingTo'] };
      return mail(user, { subject, text: button.payload ?? button.label, ...(replyingTo ? { replyingTo } : {}) });
    },
    async deliver(inbound) {
      const built = drafts.get(inbound.request);
      if (!built) return { ok: false, statuses: [0] };
      // Mailgun tries again on anything but 200 and 406 (refused for good).
      const statuses = await fake.forward(url(), built).catch(() => [0]);
      return { ok: statuses.at(-1) === 200, statuses };
    },
    observe(call: ObservedCall): Outbound[] {
      if (call.method !== 'POST' || !SEND.test(call.path) || call.status !== 200 || !isObject(call.result) || typeof call.result.id !== 'string') return [];
      const p = call.params;
      const to = field(p, 'to') ?? '';
      const text = field(p, 'text');
      const html = field(p, 'html');
      const replyTo = field(p, 'h:Reply-To');
      const inReplyTo = field(p, 'h:In-Reply-To');
      const references = field(p, 'h:References');
      const sent: Mail = {
        from: field(p, 'from') ?? '',
        to,
        subject: field(p, 'subject') ?? '',
        messageId: call.result.id,
        ...(replyTo ? { replyTo } : {}),
        ...(inReplyTo ? { inReplyTo } : {}),
        ...(references ? { references } : {}),
        ...(text !== undefined ? { text } : {}),
        ...(html !== undefined ? { html } : {}),
      };
      const buttons = replyButtons(sent);
      return to
        .split(',')
        .map(addressOf)
        .filter(Boolean)
        .map((address) => {
          delivered(address, sent.messageId);
          return { userKey: address, content: { text: text ?? '', mail: sent, ...(buttons.length ? { buttons } : {}) } };
        });
    },
  };
}
