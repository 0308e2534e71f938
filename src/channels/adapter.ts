/**
 * The one interface every channel implements. An adapter is pure protocol:
 * it validates its integration's settings, answers the channel's handshake,
 * verifies inbound requests on the raw bytes, parses them into normalized
 * events, encodes rendered parts into the channel's native send calls and
 * classifies the channel's failures. It never touches storage; the inbound
 * pipeline (`inbound.ts`) and the deliveries consumer do, which is what keeps
 * adding a channel to one adapter file, one fake and one registry line.
 *
 * Every network call goes through the `fetch` it is handed (the outbound
 * policy: checked targets, caps, redirects by hand) and starts from
 * `apiBase(config)`, so tests and the simulator stand a fake in for the
 * channel by setting the integration's `apiBaseUrl`.
 */
import type * as v from 'valibot';
import type { OutboundInit } from '../http/outbound';

// ---- capabilities -------------------------------------------------------------

export type MediaKind = 'image' | 'file' | 'video' | 'audio';

/**
 * What a channel can show natively. The renderer reads this and degrades
 * anything beyond it (numbered text, links, separate messages), so an adapter
 * only ever encodes parts it declared it can show.
 */
export interface Capabilities {
  /** Longest text one message may carry; longer text is split across messages. */
  textMax: number;
  /** Longest caption a media message may carry; 0 when media takes no caption (the text follows the media as its own message). */
  captionMax: number;
  /** Media kinds sent natively (by URL); others are sent as a text link. */
  media: readonly MediaKind[];
  /** Buttons one message may carry natively: postback (payload) and link (URL) buttons. 0 = none. */
  postbackButtons: number;
  linkButtons: number;
  /** Whether postback and link buttons may share one message. */
  mixedButtons: boolean;
  /** Longest button label before the renderer truncates it. */
  buttonTextMax: number;
  /** Quick replies (`reply` actions) one message may carry natively. 0 = none. */
  quickReplies: number;
  /** A native "share your location" prompt. */
  locationRequest: boolean;
  /** Native carousel (cards with image, title, subtitle, buttons): most items and buttons per card; null = none. */
  carousel: { maxItems: number; maxButtons: number } | null;
  /** Native location pin. */
  location: boolean;
  /** Native templates (WhatsApp); other channels refuse `template` content. */
  templates: boolean;
  /** How rich text reaches the channel. */
  markup: 'html' | 'markdown' | 'plain';
}

// ---- rendered parts (what the renderer hands an adapter) ----------------------

/**
 * Every postback and reply the renderer emits carries `choice`, its ordinal in
 * the message. The conversation remembers the client's last choices, so a
 * channel that cannot carry a long payload (Telegram's 64-byte callback_data)
 * may send `#<choice>` instead and parse it back as `choice`, and a typed
 * number or a tapped label maps back to the payload.
 */
export type Button =
  | { kind: 'postback'; text: string; payload: string; choice: number }
  | { kind: 'link'; text: string; uri: string }
  | { kind: 'locationRequest'; text: string };

export interface QuickReply {
  text: string;
  payload: string;
  choice: number;
  iconUrl?: string;
}

export interface Card {
  title: string;
  description?: string;
  mediaUrl?: string;
  buttons: Button[];
  /** Messenger's tap-on-card action (`link` with `default: true`). */
  defaultUri?: string;
}

/**
 * One channel message. `text` is always plain text (markup already reduced);
 * `html`/`markdown` carry the rich form for channels whose `markup` says so.
 */
export type Part =
  | { kind: 'text'; text: string; html?: string; markdown?: string; buttons: Button[]; replies: QuickReply[] }
  | { kind: 'media'; media: MediaKind; url: string; mimeType?: string; fileName?: string; caption?: string; buttons: Button[]; replies: QuickReply[] }
  | { kind: 'location'; lat: number; long: number; name?: string; address?: string }
  | { kind: 'carousel'; cards: Card[] }
  | { kind: 'template'; template: Record<string, unknown> }
  /** `override.<channel>.payload`, sent as the channel's native message body untouched. */
  | { kind: 'native'; payload: unknown };

/** An option the client was last offered; `numbered` when it went out as a numbered text line. */
export interface Choice {
  number: number;
  kind: 'postback' | 'reply';
  text: string;
  payload: string;
  numbered: boolean;
}

// ---- normalized inbound events --------------------------------------------------

/** The channel user as the channel describes them; becomes the Parley client's fields. */
export interface ChannelUser {
  /** Channel-native id (phone number, PSID, Telegram user id): the client's `externalId`. */
  externalId: string;
  displayName?: string;
  avatarUrl?: string;
  givenName?: string;
  surname?: string;
  locale?: string;
  /** Curated flat info (Twilio: phoneNumber, city, country, state). */
  info?: Record<string, string | number | boolean>;
  /** The channel's raw profile fields. */
  raw?: Record<string, unknown>;
}

/**
 * Media the channel holds. `ref` is what `fetchMedia` needs to download it
 * (a media id, a file id, a private URL); the pipeline turns it into a Parley
 * media URL backed by R2, so expiring or authenticated channel URLs never
 * reach a customer.
 */
export interface InboundMedia {
  kind: MediaKind;
  ref: string;
  mimeType?: string;
  fileName?: string;
  size?: number;
}

export type InboundContent =
  | { type: 'text'; text: string; payload?: string }
  | { type: 'media'; media: InboundMedia; text?: string }
  | { type: 'location'; lat: number; long: number; name?: string; address?: string };

interface EventBase {
  user: ChannelUser;
  /** Channel time of the event, epoch ms (decided per channel, never by magnitude). */
  timestamp?: number;
}

export type InboundEvent =
  | (EventBase & {
      kind: 'message';
      /** The channel's unique id for this message: the dedupe key inside the conversation. */
      channelMessageId: string;
      content: InboundContent;
      /** Channel id of the message this one replies to (WhatsApp context). */
      quotedChannelMessageId?: string;
    })
  /** A button tap. `choice` instead of a payload when the adapter sent `#<choice>` in place of a long payload. */
  | (EventBase & { kind: 'postback'; channelMessageId: string; payload?: string; choice?: number; text?: string })
  | (EventBase & { kind: 'referral'; channelMessageId: string; ref: string; source?: string; referralType?: string })
  | (EventBase & { kind: 'read'; channelMessageId?: string; watermark?: number })
  | (EventBase & { kind: 'typing'; state: 'start' | 'stop' })
  /**
   * A receipt for one of Parley's sends: by channel message id (WhatsApp,
   * Twilio) or by watermark (Messenger: everything sent up to then).
   */
  | (EventBase & {
      kind: 'delivery';
      status: 'sent' | 'delivered' | 'read' | 'failed';
      channelMessageId?: string;
      watermark?: number;
      error?: { code: string; message: string };
    });

// ---- contexts and outcomes -------------------------------------------------------

/** An inbound request as received: the raw bytes (verify these, never a re-serialization). */
export interface InboundRequest {
  method: string;
  /** The URL the channel called, exactly (Twilio signs it). */
  url: string;
  headers: Headers;
  raw: Uint8Array;
  /** Wall clock in ms, injectable for replay-window tests. */
  now: number;
}

export type Verdict = { ok: true } | { ok: false; status: 401 | 403; reason: string };

/** How adapters call out: a plain function (never a method of the context) under the outbound policy (src/http/outbound.ts). */
export type ChannelFetch = (url: string, init?: OutboundInit) => Promise<Response>;

export interface ChannelContext<C> {
  config: C;
  fetch: ChannelFetch;
  /** Parley's public URL for this integration's inbound endpoint (`/hooks/{integrationId}`). */
  webhookUrl: string;
}

/** Where one outbound message goes. */
export interface Recipient {
  /** The client's channel-native id. */
  externalId: string;
  /** When the user last wrote on this channel (epoch ms), for session windows such as WhatsApp's 24 hours. */
  lastInboundAt?: number;
  /** The client's `raw` as stored, for channels whose send needs more than the id. */
  raw?: Record<string, unknown> | null;
  /**
   * Names this delivery part the same on every attempt (message, client, part),
   * for channels that dedupe retried sends by a key of ours (LINE's X-Line-Retry-Key).
   */
  deliveryKey?: string;
}

/**
 * How sending one part went. A part the channel needs several messages for
 * (WhatsApp buttons plus a location request, Messenger media plus buttons)
 * reports every id it sent (`channelMessageIds`), and on failure the ids it
 * sent before failing (`sent`), so a retry resumes after them instead of
 * sending them twice.
 */
export type SendOutcome =
  | { ok: true; channelMessageId: string; channelMessageIds?: string[] }
  | { ok: false; retryable: true; code: string; message: string; retryAfterMs?: number; sent?: string[] }
  | { ok: false; retryable: false; code: string; message: string; sent?: string[] };

export interface SetupOutcome<C> {
  status: 'active' | 'error';
  /** Settings to store on top of the created ones (secrets generated here, read-only fields learned from the channel). */
  config?: Partial<C>;
  /** Why setup failed, in words the customer can act on. */
  error?: string;
}

// ---- the adapter -------------------------------------------------------------------

export interface ChannelAdapter<C extends { apiBaseUrl?: string } = { apiBaseUrl?: string }> {
  /** The integration type and the client type it creates (`whatsapp`, `telegram`, ...). */
  type: string;
  capabilities: Capabilities;
  /** The channel's real API base URL; `config.apiBaseUrl` overrides it. */
  defaultApiBase: string;
  /** Create body (without `type`/`displayName`, which the API handles) and the PATCH subset. */
  createSchema: v.GenericSchema<unknown, C>;
  updateSchema: v.GenericSchema<unknown, Partial<C>>;
  /** Config keys that are secrets: sealed at rest and never returned. */
  secretFields: readonly (keyof C & string)[];
  /** The type's read-only and non-secret fields for the v2 integration object. */
  view(config: C): Record<string, unknown>;

  /** Channel-side setup on create (Telegram setWebhook); absent = nothing to do, active at once. */
  setup?(ctx: ChannelContext<C>): Promise<SetupOutcome<C>>;
  /**
   * The channel user a notification's `destinationId` or a link's
   * `matchCriteria.phoneNumber` names (an E.164 number, a chat id), or what is
   * wrong with it (the caller names the field). Absent: the channel
   * cannot reach someone who has not written first (Messenger, Instagram).
   */
  notificationRecipient?(destinationId: string): ChannelUser | string;
  /** Channel-side cleanup on delete (Telegram deleteWebhook); failures are logged, not fatal. */
  teardown?(ctx: ChannelContext<C>): Promise<void>;

  /** The largest inbound body the channel sends (email carries its attachments inline); default HOOK_BODY_MAX_BYTES (1 MiB). */
  maxBodyBytes?: number;
  /**
   * For a channel whose signature does not cover the body (Mailgun signs a
   * timestamp and a token): the signed nonce and a digest of what it came
   * with (stable across the channel's redeliveries). The pipeline records
   * each nonce once, shared by every Worker instance, and refuses it with
   * any other digest.
   */
  replayGuard?(request: InboundRequest): Promise<{ nonce: string; digest: string } | undefined>;
  /** The channel also calls the endpoint with GET, the event in the query (MessageBird's status reports): verified and parsed like a POST. */
  receivesGet?: boolean;
  /** GET on the inbound endpoint: the channel's handshake (Meta hub.challenge, X's CRC, WeChat's echostr; the last two sign it). Absent = 405. */
  handshake?(url: URL, config: C): Response | Promise<Response>;
  verify(request: InboundRequest, config: C): Promise<Verdict>;
  /**
   * Parses a verified request. Throws `badRequest` for bodies the channel
   * would never send; returns [] for events Parley ignores (echoes, other
   * accounts' events, unsupported updates).
   */
  parse(request: InboundRequest, config: C): InboundEvent[];
  /** The body the channel expects back (Twilio: empty TwiML); default `200 {}`. */
  acknowledge?(): Response;
  /** Work the channel requires after an event is stored (Telegram answerCallbackQuery). Best effort. */
  afterInbound?(ctx: ChannelContext<C>, request: InboundRequest): Promise<void>;

  /**
   * Sends one rendered part; classifies failures as retryable or permanent
   * with the channel's code. `skip` is how many of the part's messages an
   * earlier attempt already sent.
   */
  send(ctx: ChannelContext<C>, to: Recipient, part: Part, skip?: number): Promise<SendOutcome>;
  /**
   * Why an `override.<type>.payload` cannot be sent, or undefined. A native
   * payload reaches the channel's API with the integration's token, so only
   * the channel's send calls are allowed and the recipient is always the
   * conversation's: checked at the API edge (400) and again before sending.
   */
  checkNative(payload: unknown): string | undefined;
  /** Typing indicator, where the channel has one. Best effort. */
  typing?(ctx: ChannelContext<C>, to: Recipient, on: boolean): Promise<void>;
  /** Downloads inbound media by the `ref` the parser gave, with the channel's auth. */
  fetchMedia?(ctx: ChannelContext<C>, ref: string): Promise<Response>;
  /**
   * The profile of a user the channel's webhooks name only by id (Messenger's
   * User Profile API, Instagram's): names, picture and the channel's raw
   * fields, merged under what the webhook itself said. The pipeline calls it
   * once, when it meets a client it has not seen (returning users cost
   * nothing), bounded by PROFILE_TIMEOUT_MS and cached (`profile.ts`); a
   * failure (throw or undefined) only means the client starts without a
   * profile, never that the message waits or is lost.
   */
  profile?(ctx: ChannelContext<C>, externalId: string): Promise<Omit<ChannelUser, 'externalId'> | undefined>;
}

/** The most a first contact waits for `profile` before the message goes on without one. */
export const PROFILE_TIMEOUT_MS = 3_000;

/** An error title unless `payload` is an object whose keys are all in `allowed` (the rest are pinned or not the channel's send fields). */
export function nativeKeysProblem(type: string, payload: unknown, allowed: ReadonlySet<string>): string | undefined {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return `override.${type}.payload must be an object`;
  const stray = Object.keys(payload).find((k) => !allowed.has(k));
  return stray === undefined ? undefined : `override.${type}.payload.${stray} is not allowed (allowed: ${[...allowed].join(', ')})`;
}

/** The base URL every call of an integration starts from. */
export const apiBase = <C extends { apiBaseUrl?: string }>(adapter: ChannelAdapter<C>, config: C): string =>
  (config.apiBaseUrl ?? adapter.defaultApiBase).replace(/\/+$/, '');
