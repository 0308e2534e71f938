/**
 * Instagram Messaging adapter (reference §4), Facebook Login flavour: an
 * Instagram professional account linked to a Facebook Page, reached with the
 * Page's token on graph.facebook.com. The wire protocol is Messenger's
 * (`messaging[]` items, the Send API), so this file only adds what differs:
 * the account learned in setup, story mentions and replies, no file sends and
 * a shorter text limit.
 */
import * as v from 'valibot';
import { uri } from '../schema/common';
import { apiBase, PROFILE_TIMEOUT_MS, type Capabilities, type ChannelAdapter, type ChannelContext } from './adapter';
import { graphGet, graphUrl, graphVersion, metaHandshake, newVerifyToken, verifyMetaSignature, verifyToken } from './meta';
import { appId, appSecret, checkPageNative, fetchCdnMedia, PAGE_RETRYABLE, pageToken, pageTyping, parsePageWebhook, profileField, sendPagePart, type PageTarget } from './messenger';

/** Learned in setup from the Page and its linked Instagram account. */
type ReadOnly = {
  businessName?: string;
  businessUsername?: string;
  pageId?: string;
  businessId?: string;
  username?: string;
  userId?: string;
};

const flag = v.boolean('must be a boolean');

const createFields = v.object(
  {
    pageAccessToken: pageToken,
    appId,
    appSecret,
    storyRepliesEnabled: v.optional(flag, true),
    storyMentionsEnabled: v.optional(flag, true),
    verifyToken: v.optional(verifyToken),
    graphVersion: v.optional(graphVersion),
    apiBaseUrl: v.optional(uri()),
  },
  'must be an object',
);
const createSchema = v.pipe(
  createFields,
  v.transform((config): v.InferOutput<typeof createFields> & ReadOnly => config),
);

const updateSchema = v.object(
  {
    pageAccessToken: v.optional(pageToken),
    storyRepliesEnabled: v.optional(flag),
    storyMentionsEnabled: v.optional(flag),
    verifyToken: v.optional(verifyToken),
  },
  'must be an object',
);

export type InstagramConfig = v.InferOutput<typeof createSchema>;
type Ctx = ChannelContext<InstagramConfig>;

const capabilities: Capabilities = {
  textMax: 1000,
  captionMax: 0,
  media: ['image', 'video', 'audio'],
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

const target = (ctx: Ctx): PageTarget => ({
  type: 'instagram',
  fetch: ctx.fetch,
  url: graphUrl(apiBase(instagram, ctx.config), ctx.config, `${ctx.config.pageId ?? 'me'}/messages`),
  token: ctx.config.pageAccessToken,
  retryable: PAGE_RETRYABLE,
});

const pageWithAccount = v.looseObject({
  id: v.string(),
  name: v.optional(v.string()),
  instagram_business_account: v.optional(v.looseObject({ id: v.string(), username: v.optional(v.string()), name: v.optional(v.string()) })),
});

async function setup(ctx: Ctx) {
  const { config } = ctx;
  const token = { verifyToken: config.verifyToken ?? newVerifyToken() };
  const url = graphUrl(apiBase(instagram, config), config, 'me?fields=id,name,instagram_business_account{id,username,name}');
  const answer = await graphGet(ctx.fetch, url, config.pageAccessToken);
  if (!answer.ok) {
    return {
      status: 'error' as const,
      config: token,
      error: `Facebook did not accept the pageAccessToken (${answer.error}); use the token of the Page your Instagram professional account is linked to, with instagram_manage_messages permission`,
    };
  }
  const page = v.safeParse(pageWithAccount, answer.body);
  if (!page.success) return { status: 'error' as const, config: token, error: 'Facebook answered the Page lookup without an id' };
  const account = page.output.instagram_business_account;
  if (!account) {
    return { status: 'error' as const, config: token, error: `The Facebook Page ${page.output.name ?? page.output.id} has no Instagram professional account linked; link one in the Page settings` };
  }
  const known = (key: keyof ReadOnly, value: string | undefined) => (value !== undefined ? { [key]: value } : {});
  return {
    status: 'active' as const,
    config: {
      ...token,
      pageId: page.output.id,
      businessId: account.id,
      userId: account.id,
      ...known('businessName', account.name ?? page.output.name),
      ...known('businessUsername', account.username),
      ...known('username', account.username),
    },
  };
}

const instagramProfile = v.looseObject({ name: profileField, username: profileField, profile_pic: profileField });

/**
 * §4 User Profile API: `GET /{IGSID}?fields=name,username,profile_pic` with
 * the Page token. Instagram keeps one name, not a first and a last: it is the
 * user's givenName as written (splitting names guesses wrong too often), and
 * the client shows it, or the @username when no name is set.
 */
async function profile(ctx: Ctx, igsid: string) {
  const url = graphUrl(apiBase(instagram, ctx.config), ctx.config, `${encodeURIComponent(igsid)}?fields=name,username,profile_pic`);
  const answer = await graphGet(ctx.fetch, url, ctx.config.pageAccessToken, PROFILE_TIMEOUT_MS);
  if (!answer.ok) throw new Error(answer.error);
  const parsed = v.safeParse(instagramProfile, answer.body);
  if (!parsed.success) throw new Error('Graph answered the profile lookup with something else than a user');
  const { name, username, profile_pic: pic } = parsed.output;
  const shown = name || username;
  return {
    ...(name ? { givenName: name } : {}),
    ...(shown ? { displayName: shown } : {}),
    ...(pic ? { avatarUrl: pic } : {}),
    raw: { ...(name ? { name } : {}), ...(username ? { username } : {}), ...(pic ? { profile_pic: pic } : {}) },
  };
}

export const instagram: ChannelAdapter<InstagramConfig> = {
  type: 'instagram',
  capabilities,
  defaultApiBase: 'https://graph.facebook.com',
  createSchema,
  updateSchema,
  secretFields: ['pageAccessToken', 'appSecret'],
  view: (c) => ({
    appId: c.appId,
    storyRepliesEnabled: c.storyRepliesEnabled,
    storyMentionsEnabled: c.storyMentionsEnabled,
    businessName: c.businessName,
    businessUsername: c.businessUsername,
    pageId: c.pageId,
    businessId: c.businessId,
    username: c.username,
    userId: c.userId,
    verifyToken: c.verifyToken,
    graphVersion: c.graphVersion,
  }),
  setup,
  handshake: (url, config) => metaHandshake(url, config.verifyToken),
  verify: (request, config) => verifyMetaSignature(request, config.appSecret),
  parse: (request, config) =>
    parsePageWebhook(request.raw, {
      object: 'instagram',
      // Entries are keyed by the Instagram account, not the Page.
      accountId: config.businessId,
      // Instagram's examples show seconds where Messenger sends milliseconds (§0.1): the one place magnitude decides.
      time: (t) => (t < 1e12 ? t * 1000 : t),
      storyMentions: config.storyMentionsEnabled,
      storyReplies: config.storyRepliesEnabled,
    }),
  checkNative: (payload) => checkPageNative('instagram', payload),
  send: (ctx, to, part, skip) => sendPagePart(target(ctx), to, part, skip),
  typing: (ctx, to, on) => pageTyping(target(ctx), to, on),
  fetchMedia: (ctx, ref) => fetchCdnMedia(ctx.fetch, ref),
  profile,
};
