/**
 * WhatsApp message templates beyond sending them (whatsapp.ts sends them):
 *
 * - listing a WhatsApp Business Account's templates through Meta's Business
 *   Management API (`GET /{wabaId}/message_templates`) with the integration's
 *   `accountId` and `accountManagementAccessToken`;
 * - "Message Template Reconstruction": the text the user saw, rebuilt from the
 *   approved template's components and the parameters sent, becomes the posted
 *   message's `content.text` before it is stored, so the API answer, the
 *   history and `conversation:message` show what the user read;
 * - a template named by a Twilio Content SID (`HX…`) also gets Twilio's
 *   ContentSid/ContentVariables, so WhatsApp through Twilio sends it too.
 *
 * Reconstruction never fails a post: without the account fields, without the
 * template, or when Meta does not answer, the text stays what it was (the
 * shorthand's fallback).
 */
import * as v from 'valibot';
import type { Env } from '../env';
import { listIntegrations } from '../db/integrations';
import { findClient } from '../db/users';
import { appTag, integrationTag, TtlCache } from '../db/ttl-cache';
import { StatusError, badRequest } from '../http/errors';
import { LIMITS } from '../schema/common';
import type { Content } from '../schema/content';
import { apiBase, type ChannelFetch } from './adapter';
import { callChannel, channelContext, jsonBody } from './http';
import { graphFailure, graphUrl } from './meta';
import { channelIntegration, type ChannelIntegration } from './store';
import { whatsapp, type WhatsAppConfig } from './whatsapp';

// ---- listing -----------------------------------------------------------------------

export interface TemplateDefinition {
  name: string;
  language: string;
  status: string;
  category?: string;
  components: Record<string, unknown>[];
}

export interface TemplateQuery {
  name?: string;
  language?: string;
  status?: string;
  category?: string;
  /** Graph's own `after` cursor, passed through. */
  after?: string;
  limit: number;
}

export interface TemplatePage {
  templates: TemplateDefinition[];
  hasMore: boolean;
  afterCursor?: string;
}

const graphPage = v.looseObject({
  data: v.array(
    v.looseObject({
      name: v.string(),
      language: v.string(),
      status: v.optional(v.string(), 'UNKNOWN'),
      category: v.optional(v.string()),
      components: v.optional(v.array(v.looseObject({})), []),
    }),
  ),
  paging: v.optional(v.looseObject({ cursors: v.optional(v.looseObject({ after: v.optional(v.string()) })), next: v.optional(v.string()) })),
});

/** The account fields listing needs, or a 400 naming the first one missing. */
export function managementOf(config: WhatsAppConfig): { accountId: string; token: string } {
  if (!config.accountId) throw badRequest('accountId: the integration has no accountId (the WhatsApp Business Account ID); set it with PATCH to list templates');
  if (!config.accountManagementAccessToken) throw badRequest('accountManagementAccessToken: the integration has no accountManagementAccessToken; set it with PATCH to list templates');
  return { accountId: config.accountId, token: config.accountManagementAccessToken };
}

/**
 * One page of the account's templates. Meta refusing (bad token, unknown
 * account, missing permission) is the integration's settings: 400 with Meta's
 * words. Meta failing or unreachable: 502.
 */
export async function listTemplates(fetcher: ChannelFetch, config: WhatsAppConfig, query: TemplateQuery, timeoutMs?: number): Promise<TemplatePage> {
  const { accountId, token } = managementOf(config);
  const params = new URLSearchParams({ fields: 'name,language,status,category,components', limit: String(query.limit) });
  for (const key of ['name', 'language', 'status', 'category', 'after'] as const) {
    const value = query[key];
    if (value !== undefined) params.set(key, value);
  }
  const url = graphUrl(apiBase(whatsapp, config), config, `${encodeURIComponent(accountId)}/message_templates?${params}`);
  const called = await callChannel(fetcher, url, { headers: { authorization: `Bearer ${token}` } }, timeoutMs);
  if (!called.ok) throw new StatusError(502, 'bad_gateway', `WhatsApp Business Management API did not answer: ${called.outcome.message}`);
  const body = await jsonBody(called.response);
  if (!called.response.ok) {
    const failure = graphFailure(called.response, body, new Set());
    const said = `Graph error ${failure.code}: ${failure.message}`;
    if (failure.retryable) throw new StatusError(502, 'bad_gateway', `WhatsApp Business Management API failed (${said})`);
    throw badRequest(`WhatsApp refused to list the templates of accountId ${accountId} (${said}); check accountId and that accountManagementAccessToken has the whatsapp_business_management permission`);
  }
  const page = v.safeParse(graphPage, body);
  if (!page.success) throw new StatusError(502, 'bad_gateway', 'WhatsApp Business Management API answered without a data array');
  const { data, paging } = page.output;
  const hasMore = Boolean(paging?.next && paging.cursors?.after);
  return {
    templates: data.map((t) => ({ name: t.name, language: t.language, status: t.status, ...(t.category ? { category: t.category } : {}), components: t.components })),
    hasMore,
    ...(hasMore ? { afterCursor: paging!.cursors!.after! } : {}),
  };
}

// ---- reconstruction ----------------------------------------------------------------

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);
const str = (x: unknown) => (typeof x === 'string' ? x : undefined);

/** A sent parameter as the user reads it; media parameters have no text. */
function valueOf(p: Json): string | undefined {
  switch (p.type) {
    case 'text':
      return str(p.text);
    case 'currency':
    case 'date_time':
      return isObject(p[p.type]) ? str((p[p.type] as Json).fallback_value) : undefined;
    case 'payload':
      return str(p.payload);
    default:
      return undefined;
  }
}

/** `{{1}}` takes the first parameter, `{{name}}` the one with that `parameter_name`; an unfilled placeholder stays as written. */
function fill(text: string, params: Json[]): string {
  return text.replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (whole, key: string) => {
    const p = /^\d+$/.test(key) ? params[Number(key) - 1] : params.find((q) => q.parameter_name === key);
    return (p && valueOf(p)) ?? whole;
  });
}

/**
 * The text a template shows: header, body and footer with their placeholders
 * filled, then one line per button (with its URL or number), or undefined
 * when the definition has no text at all.
 */
export function reconstructTemplate(definition: Pick<TemplateDefinition, 'components'>, sent: { components?: unknown }): string | undefined {
  const sentComponents = Array.isArray(sent.components) ? sent.components.filter(isObject) : [];
  const paramsOf = (type: string, index?: number) => {
    const c = sentComponents.find((s) => String(s.type).toLowerCase() === type && (index === undefined || Number(s.index) === index));
    return Array.isArray(c?.parameters) ? c.parameters.filter(isObject) : [];
  };
  const sections: string[] = [];
  const buttons: string[] = [];
  for (const c of definition.components) {
    const type = String(c.type).toUpperCase();
    const text = str(c.text);
    if (type === 'HEADER' && text && (c.format === undefined || String(c.format).toUpperCase() === 'TEXT')) sections.push(fill(text, paramsOf('header')));
    else if (type === 'BODY' && text) sections.push(fill(text, paramsOf('body')));
    else if (type === 'FOOTER' && text) sections.push(text);
    else if (type === 'BUTTONS' && Array.isArray(c.buttons)) {
      c.buttons.filter(isObject).forEach((b, i) => {
        const label = str(b.text);
        if (!label) return;
        const url = str(b.url);
        const phone = str(b.phone_number);
        if (url) buttons.push(`${label}: ${fill(url, paramsOf('button', i))}`);
        else if (phone) buttons.push(`${label}: ${phone}`);
        else buttons.push(label);
      });
    }
  }
  if (buttons.length) sections.push(buttons.join('\n'));
  const out = sections.join('\n\n').trim();
  return out ? out.slice(0, LIMITS.textChars) : undefined;
}

/** Template definitions change rarely (an edit needs Meta's approval again); a miss is asked again sooner. */
export const DEFINITION_CACHE_MS = 10 * 60_000;
const DEFINITION_MISS_MS = 60_000;
const definitions = new TtlCache<TemplateDefinition | undefined>({
  ttlMs: DEFINITION_CACHE_MS,
  missMs: DEFINITION_MISS_MS,
  tags: (_d, key) => {
    const [appId, integrationId] = key.split('\n');
    return [appTag(appId!), integrationTag(integrationId!)];
  },
});

/** Pages read looking for one template: Graph's name filter narrows the list, so one is usually enough. */
const LOOKUP_PAGES = 3;
/** The lookup holds up a message post: a slow Meta costs the reconstruction, not the caller's patience. */
const LOOKUP_TIMEOUT_MS = 3_000;

/** The named template in that language, from the account's listing; throws when Meta does not answer (nothing is cached then). */
export function templateDefinition(env: Env, integration: ChannelIntegration, name: string, language: string): Promise<TemplateDefinition | undefined> {
  return definitions.read(`${integration.appId}\n${integration.id}\n${name}\n${language}`, async () => {
    const config = integration.config as WhatsAppConfig;
    const ctx = channelContext(env, whatsapp, config, integration.webhookUrl);
    let after: string | undefined;
    for (let i = 0; i < LOOKUP_PAGES; i++) {
      const page = await listTemplates(ctx.fetch, config, { name, language, limit: 100, ...(after ? { after } : {}) }, LOOKUP_TIMEOUT_MS);
      const found = page.templates.find((t) => t.name === name && t.language === language);
      if (found) return found;
      if (!page.hasMore) return undefined;
      after = page.afterCursor;
    }
    return undefined;
  });
}

// ---- the post hook -----------------------------------------------------------------

type Overrides = Record<string, { payload?: unknown; [k: string]: unknown }>;

type Participants = { participants: { userId: string; clientAssociations: { type: string; clientId: string }[] }[] };

export interface PostTarget {
  appId: string;
  /** Only a business message goes out to a channel; a user's keeps its text. */
  business: boolean;
  destination?: { integrationId: string } | { integrationType: string };
  /** The conversation, asked for its participants only when a template is posted without naming its integration. */
  conversation: { get(): Promise<{ ok: true; value: Participants } | { ok: false }> };
}

/** The template a post sends: the shorthand's (`override.whatsapp.payload`) or `content.type: template`'s. */
function sentTemplate(content: Content, override: Overrides | undefined): Json | undefined {
  const native = override?.whatsapp?.payload;
  if (isObject(native) && native.type === 'template' && isObject(native.template)) return native.template;
  return content.type === 'template' ? (content.template as Json) : undefined;
}

const CONTENT_SID = /^HX[0-9a-fA-F]{32}$/;

/** Twilio's Content API send for a template named by its Content SID: body parameters become variables "1", "2", … */
function twilioContent(template: Json): { ContentSid: string; ContentVariables?: string } | undefined {
  const name = str(template.name);
  if (!name || !CONTENT_SID.test(name)) return undefined;
  const body = Array.isArray(template.components) ? template.components.filter(isObject).find((c) => String(c.type).toLowerCase() === 'body') : undefined;
  const params = Array.isArray(body?.parameters) ? body.parameters.filter(isObject) : [];
  const variables = Object.fromEntries(params.map((p, i) => [str(p.parameter_name) ?? String(i + 1), valueOf(p) ?? '']));
  return { ContentSid: name, ...(params.length ? { ContentVariables: JSON.stringify(variables) } : {}) };
}

/**
 * The WhatsApp integration a business message will go out through, when that
 * can be told before the conversation picks: the named integration, else the
 * conversation's most recently linked client when it is a WhatsApp one.
 */
async function whatsappDestination(env: Env, target: PostTarget): Promise<ChannelIntegration | undefined> {
  const { appId, destination } = target;
  const mine = (i: ChannelIntegration | undefined) => (i && i.appId === appId && i.type === 'whatsapp' ? i : undefined);
  if (destination && 'integrationId' in destination) return mine(await channelIntegration(env, destination.integrationId));
  if (destination && destination.integrationType !== 'whatsapp') return undefined;
  const got = await target.conversation.get();
  const participants = got.ok ? got.value.participants : undefined;
  const holder = participants?.find((p) => p.clientAssociations.some((c) => !destination || c.type === 'whatsapp'));
  const client = holder?.clientAssociations.find((c) => !destination || c.type === 'whatsapp');
  if (!holder || client?.type !== 'whatsapp') return undefined;
  // Most apps have one WhatsApp number; only with several does the client's own row say which.
  const numbers = await listIntegrations(env, appId, { size: 2 }, ['whatsapp']);
  if (numbers.length === 1) return mine(await channelIntegration(env, numbers[0]!.id));
  const row = await findClient(env, appId, holder.userId, client.clientId);
  return row?.integrationId ? mine(await channelIntegration(env, row.integrationId)) : undefined;
}

/**
 * A posted message as it is stored when it sends a template: its text is the
 * reconstructed template when its WhatsApp integration can look the template
 * up, and a template named by a Twilio Content SID carries Twilio's send.
 * Anything else comes back unchanged, without a lookup.
 */
export async function withTemplateText(env: Env, target: PostTarget, content: Content, override: Overrides | undefined): Promise<{ content: Content; override: Overrides | undefined }> {
  const template = sentTemplate(content, override);
  if (!template) return { content, override };
  const twilio = override?.twilio ? undefined : twilioContent(template);
  const out = twilio ? { ...override, twilio: { payload: twilio } } : override;
  const name = str(template.name);
  if (!name || !target.business) return { content, override: out };
  try {
    const integration = await whatsappDestination(env, target);
    const config = integration?.config as WhatsAppConfig | undefined;
    if (!integration || !config?.accountId || !config.accountManagementAccessToken) return { content, override: out };
    const language = isObject(template.language) && str(template.language.code) ? (template.language.code as string) : config.hsmFallbackLanguage;
    const definition = await templateDefinition(env, integration, name, language);
    const text = definition && reconstructTemplate(definition, template);
    return { content: text ? ({ ...content, text } as Content) : content, override: out };
  } catch (err) {
    // Meta down or refusing: the message still goes, with the text it had.
    console.warn(`template reconstruction skipped for ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return { content, override: out };
  }
}
