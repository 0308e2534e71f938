/**
 * A stand-in for Twilio Programmable Messaging: the REST endpoints the adapter
 * calls (Accounts, IncomingPhoneNumbers, Messages, message Media) with Twilio's
 * Basic auth and error envelopes, programmable failures, and builders of
 * inbound webhooks and status callbacks signed exactly as Twilio signs them
 * (HMAC-SHA1 over the called URL plus the sorted form parameters).
 * Web-standard APIs only, so it runs inside workerd and under Node alike.
 */
import { hmacBase64 } from '../../src/channels/signing';

export type FormBody = Record<string, string | string[]>;

export interface RecordedCall {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

export interface Failure {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface SentMessage {
  sid: string;
  to: string;
  from: string | null;
  body: string;
  mediaUrls: string[];
  messagingServiceSid: string | null;
  statusCallback?: string;
  status: string;
}

export interface TwilioFakeOptions {
  accountSid?: string;
  authToken?: string;
  /** Numbers on the account: sid → E.164 number. */
  phoneNumbers?: Record<string, string>;
  messagingServiceSids?: string[];
  /** Origin the fake is served at; media URLs it hands out start here. */
  origin?: string;
  /** Where media URLs redirect to (Twilio's pre-signed media host); default: `origin`. */
  mediaOrigin?: string;
  now?: () => number;
  /** Delivers status callbacks to Parley (default: global fetch). */
  deliver?: (request: Request) => Promise<Response>;
}

export interface InboundUser {
  /** `+1…` for SMS, `whatsapp:+1…` for WhatsApp. */
  from: string;
  profileName?: string;
}

const enc = new TextEncoder();
const API = '/2010-04-01';
const E164 = /^\+[1-9]\d{6,14}$/;
const WHATSAPP = 'whatsapp:';

const randomHex = (bytes: number) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
export const twilioSid = (prefix: string) => `${prefix}${randomHex(16)}`;

const bare = (address: string) => (address.startsWith(WHATSAPP) ? address.slice(WHATSAPP.length) : address);

/** Twilio's RFC 2822 dates: `Thu, 24 Aug 2023 05:01:45 +0000`. */
const rfc2822 = (ms: number) => new Date(ms).toUTCString().replace('GMT', '+0000');

/** The signature Twilio puts in `X-Twilio-Signature` for a POST to `url` with these form fields. */
export async function twilioSignature(authToken: string, url: string, params: URLSearchParams): Promise<string> {
  let data = url;
  for (const key of [...new Set(params.keys())].sort()) {
    for (const value of [...new Set(params.getAll(key))].sort()) data += key + value;
  }
  return hmacBase64('SHA-1', authToken, data);
}

const error = (status: number, code: number, message: string, headers: Record<string, string> = {}) =>
  Response.json({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }, { status, headers });

function formBody(params: URLSearchParams): FormBody {
  const out: FormBody = {};
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    out[key] = values.length === 1 ? values[0]! : values;
  }
  return out;
}

export class TwilioFake {
  readonly accountSid: string;
  authToken: string;
  readonly origin: string;
  readonly mediaOrigin: string;
  readonly phoneNumbers: Map<string, { phoneNumber: string; smsUrl: string; smsMethod: string }>;
  readonly messagingServiceSids: Set<string>;
  readonly calls: RecordedCall[] = [];
  readonly messages = new Map<string, SentMessage>();
  /** Content templates (Content Template Builder) on the account: HX sid → body with `{{1}}`… placeholders and their default values. */
  readonly contents = new Map<string, { body: string; defaults: Record<string, string> }>();
  /** Numbers that texted STOP: sends to them fail with 21610. */
  readonly unsubscribed = new Set<string>();
  private readonly mediaStore = new Map<string, { body: Uint8Array; contentType: string; signature: string }>();
  private readonly failures: Failure[] = [];
  private readonly now: () => number;
  private readonly deliver: (request: Request) => Promise<Response>;

  constructor(options: TwilioFakeOptions = {}) {
    this.accountSid = options.accountSid ?? 'AC0123456789abcdef0123456789abcdef';
    this.authToken = options.authToken ?? '0123456789abcdef0123456789abcdef';
    this.origin = (options.origin ?? 'https://api.twilio.com').replace(/\/+$/, '');
    this.mediaOrigin = (options.mediaOrigin ?? this.origin).replace(/\/+$/, '');
    const numbers = options.phoneNumbers ?? { PN0123456789abcdef0123456789abcdef: '+15005550001' };
    this.phoneNumbers = new Map(Object.entries(numbers).map(([sid, phoneNumber]) => [sid, { phoneNumber, smsUrl: '', smsMethod: 'POST' }]));
    this.messagingServiceSids = new Set(options.messagingServiceSids ?? ['MG0123456789abcdef0123456789abcdef']);
    this.now = options.now ?? (() => Date.now());
    this.deliver = options.deliver ?? ((request) => fetch(request));
  }

  /** The first number on the account: what inbound messages are sent to by default. */
  get phoneNumber(): string {
    return [...this.phoneNumbers.values()][0]!.phoneNumber;
  }

  // ---- programmable failures ---------------------------------------------------------

  /** The next `n` authenticated API calls answer `failure` instead. */
  failNext(n: number, failure: Failure): void {
    for (let i = 0; i < n; i++) this.failures.push(failure);
  }

  rateLimitNext(seconds: number): void {
    this.failNext(1, {
      status: 429,
      body: { code: 20429, message: 'Too Many Requests', more_info: 'https://www.twilio.com/docs/errors/20429', status: 429 },
      headers: { 'retry-after': String(seconds) },
    });
  }

  unsubscribe(number: string): void {
    this.unsubscribed.add(bare(number));
  }

  // ---- the REST API ------------------------------------------------------------------

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const path = url.pathname;
    const cdn = /^\/media\/(ME[0-9a-f]{32})$/.exec(path);
    if (cdn && request.method === 'GET') return this.mediaContent(request, cdn[1]!, url.searchParams.get('Signature'));
    const account = new RegExp(`^${API}/Accounts/([^/.]+)(.*)$`).exec(path);
    if (!account) return error(404, 20404, `The requested resource ${path} was not found`);

    if (!this.authorized(request)) {
      return new Response(
        JSON.stringify({ code: 20003, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 }),
        { status: 401, headers: { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="Twilio API"' } },
      );
    }
    const [, accountSid, rest] = account as unknown as [string, string, string];
    if (accountSid !== this.accountSid) return error(404, 20404, `The requested resource ${path} was not found`);

    const failure = this.failures.shift();
    if (failure) {
      const headers = { 'content-type': 'application/json', ...failure.headers };
      return new Response(typeof failure.body === 'string' ? failure.body : JSON.stringify(failure.body), { status: failure.status, headers });
    }

    // Decoded by hand: workerd warns when .text() reads a form body.
    const raw = request.method === 'POST' ? new TextDecoder().decode(await request.arrayBuffer()) : '';
    const params = new URLSearchParams(raw);
    const record = () =>
      this.calls.push({ method: request.method, path, headers: Object.fromEntries(request.headers), body: request.method === 'POST' ? formBody(params) : undefined });

    if (rest === '.json' && request.method === 'GET') {
      record();
      return Response.json(this.accountResource());
    }
    const number = /^\/IncomingPhoneNumbers\/(PN[0-9a-f]{32})\.json$/.exec(rest);
    if (number && (request.method === 'GET' || request.method === 'POST')) {
      const entry = this.phoneNumbers.get(number[1]!);
      if (!entry) return error(404, 20404, `The requested resource ${path} was not found`);
      record();
      if (request.method === 'POST') {
        if (params.has('SmsUrl')) entry.smsUrl = params.get('SmsUrl')!;
        if (params.has('SmsMethod')) entry.smsMethod = params.get('SmsMethod')!;
      }
      return Response.json(this.numberResource(number[1]!));
    }
    if (rest === '/Messages.json' && request.method === 'POST') return this.createMessage(params, record);
    const media = /^\/Messages\/((?:MM|SM)[0-9a-f]{32})\/Media\/(ME[0-9a-f]{32})$/.exec(rest);
    if (media && request.method === 'GET') {
      const item = this.mediaStore.get(media[2]!);
      if (!item) return error(404, 20404, `The requested resource ${path} was not found`);
      record();
      // Like Twilio: the authenticated URL only redirects to a pre-signed one on the media host.
      const expires = Math.floor(this.now() / 1000) + 14_400;
      return new Response(null, { status: 307, headers: { location: `${this.mediaOrigin}/media/${media[2]}?Expires=${expires}&Signature=${encodeURIComponent(item.signature)}` } });
    }
    return error(404, 20404, `The requested resource ${path} was not found`);
  }

  /** The media host: pre-signed URLs only, and (like S3) a refusal when an Authorization header comes along. */
  private mediaContent(request: Request, sid: string, signature: string | null): Response {
    const item = this.mediaStore.get(sid);
    const xml = (status: number, code: string, message: string) =>
      new Response(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`, { status, headers: { 'content-type': 'application/xml' } });
    if (request.headers.has('authorization')) {
      return xml(400, 'InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified');
    }
    if (!item || signature !== item.signature) return xml(403, 'AccessDenied', 'Access Denied');
    this.calls.push({ method: 'GET', path: new URL(request.url).pathname, headers: Object.fromEntries(request.headers), body: undefined });
    return new Response(item.body as Uint8Array<ArrayBuffer>, { headers: { 'content-type': item.contentType } });
  }

  private authorized(request: Request): boolean {
    const header = request.headers.get('authorization') ?? '';
    if (!header.startsWith('Basic ')) return false;
    try {
      return atob(header.slice(6)) === `${this.accountSid}:${this.authToken}`;
    } catch {
      return false;
    }
  }

  private createMessage(params: URLSearchParams, record: () => void): Response {
    const to = params.get('To');
    const from = params.get('From');
    const service = params.get('MessagingServiceSid');
    const mediaUrls = params.getAll('MediaUrl');
    const contentSid = params.get('ContentSid');
    // A Content template supersedes Body: the message carries the template's body with its variables filled.
    const rendered = this.renderContent(contentSid, params.get('ContentVariables'));
    if (rendered instanceof Response) return rendered;
    const body = rendered ?? params.get('Body') ?? '';

    if (!to) return error(400, 21604, "A 'To' phone number is required.");
    if (!E164.test(bare(to))) return error(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    if (!from && !service) return error(400, 21603, "A 'From' phone number is required.");
    if (service && !this.messagingServiceSids.has(service)) return error(400, 21705, 'The Messaging Service Sid is invalid.');
    if (from && ![...this.phoneNumbers.values()].some((n) => n.phoneNumber === bare(from))) {
      return error(400, 21606, `The From phone number ${from} is not a valid, SMS-capable inbound phone number or short code for your account.`);
    }
    if (from && from.startsWith(WHATSAPP) !== to.startsWith(WHATSAPP)) {
      return error(400, 63007, `Twilio could not find a Channel with the specified From address: ${from}`);
    }
    if (!body && mediaUrls.length === 0 && !contentSid) return error(400, 21602, 'Message body is required.');
    if (body.length > 1600) return error(400, 21617, 'The concatenated message body exceeds the 1600 character limit.');
    if (mediaUrls.length > 10) return error(400, 21623, 'Number of media files exceeds allowed limit.');
    if (this.unsubscribed.has(bare(to))) return error(400, 21610, 'Attempt to send to unsubscribed recipient');
    record();

    const sid = twilioSid(mediaUrls.length > 0 ? 'MM' : 'SM');
    // Twilio answers `accepted` when a Messaging Service still has to pick the sender.
    const status = from ? 'queued' : 'accepted';
    const message: SentMessage = {
      sid,
      to,
      from,
      body,
      mediaUrls,
      messagingServiceSid: service,
      status,
      ...(params.get('StatusCallback') ? { statusCallback: params.get('StatusCallback')! } : {}),
    };
    this.messages.set(sid, message);
    const date = rfc2822(this.now());
    const uri = `${API}/Accounts/${this.accountSid}/Messages/${sid}`;
    return Response.json(
      {
        account_sid: this.accountSid,
        api_version: '2010-04-01',
        body,
        date_created: date,
        date_sent: null,
        date_updated: date,
        direction: 'outbound-api',
        error_code: null,
        error_message: null,
        from,
        messaging_service_sid: service,
        num_media: String(mediaUrls.length),
        num_segments: String(Math.max(1, Math.ceil(body.length / 153))),
        price: null,
        price_unit: 'USD',
        sid,
        status,
        subresource_uris: { media: `${uri}/Media.json` },
        to,
        uri: `${uri}.json`,
      },
      { status: 201 },
    );
  }

  /**
   * Content API sends: `ContentSid` must name one of the account's templates
   * (21655), `ContentVariables` must be a JSON object of non-empty strings
   * (21656) and needs a ContentSid (21654). Unset variables take the
   * template's defaults. Undefined when the message names no template.
   * An account given no templates yet takes any well-formed sid.
   */
  private renderContent(contentSid: string | null, variables: string | null): string | Response | undefined {
    if (!contentSid) return variables === null ? undefined : error(400, 21654, 'ContentSid Required');
    const wellFormed = /^HX[0-9a-fA-F]{32}$/.test(contentSid);
    // Until a test adds templates (addContent) the account takes any well-formed sid, with nothing to render.
    const content = wellFormed && this.contents.size === 0 ? { body: '', defaults: {} as Record<string, string> } : wellFormed ? this.contents.get(contentSid) : undefined;
    if (!content) return error(400, 21655, 'The ContentSid is Invalid');
    let values: Record<string, unknown> = {};
    if (variables !== null) {
      try {
        values = JSON.parse(variables);
      } catch {
        return error(400, 21656, 'The ContentVariables Parameter is invalid');
      }
      if (typeof values !== 'object' || values === null || Array.isArray(values) || Object.values(values).some((x) => typeof x !== 'string' || x === '')) {
        return error(400, 21656, 'The ContentVariables Parameter is invalid');
      }
    }
    return content.body.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, key: string) => String(values[key] ?? content.defaults[key] ?? whole));
  }

  /** Adds a Content template (as the Content Template Builder would); returns its HX sid. */
  addContent(body: string, defaults: Record<string, string> = {}): string {
    const sid = twilioSid('HX');
    this.contents.set(sid, { body, defaults });
    return sid;
  }

  private accountResource() {
    const date = rfc2822(this.now());
    return {
      auth_token: this.authToken,
      date_created: date,
      date_updated: date,
      friendly_name: 'Parley test account',
      owner_account_sid: this.accountSid,
      sid: this.accountSid,
      status: 'active',
      type: 'Full',
      uri: `${API}/Accounts/${this.accountSid}.json`,
    };
  }

  private numberResource(sid: string) {
    const entry = this.phoneNumbers.get(sid)!;
    const date = rfc2822(this.now());
    return {
      account_sid: this.accountSid,
      api_version: '2010-04-01',
      capabilities: { mms: true, sms: true, voice: true, fax: false },
      date_created: date,
      date_updated: date,
      friendly_name: entry.phoneNumber,
      phone_number: entry.phoneNumber,
      sid,
      sms_application_sid: '',
      sms_fallback_method: 'POST',
      sms_fallback_url: '',
      sms_method: entry.smsMethod,
      sms_url: entry.smsUrl,
      status: 'in-use',
      uri: `${API}/Accounts/${this.accountSid}/IncomingPhoneNumbers/${sid}.json`,
    };
  }

  // ---- inbound webhooks --------------------------------------------------------------

  /** Stores media Twilio holds for an inbound MMS and returns its (Basic-auth) URL. */
  addMedia(messageSid: string, body: Uint8Array | string, contentType: string): string {
    const sid = twilioSid('ME');
    this.mediaStore.set(sid, { body: typeof body === 'string' ? enc.encode(body) : body, contentType, signature: randomHex(20) });
    return `${this.origin}${API}/Accounts/${this.accountSid}/Messages/${messageSid}/Media/${sid}`;
  }

  /** A POST to `webhookUrl` with these form fields, signed over that exact URL string. */
  async signed(webhookUrl: string, fields: Record<string, string>, authToken = this.authToken): Promise<Request> {
    const params = new URLSearchParams(fields);
    return new Request(webhookUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': await twilioSignature(authToken, webhookUrl, params),
        'i-twilio-idempotency-token': crypto.randomUUID(),
        'user-agent': 'TwilioProxy/1.1',
      },
      body: params.toString(),
    });
  }

  /** The fields every inbound message carries. */
  private messageFields(messageSid: string, user: InboundUser, to: string): Record<string, string> {
    const whatsapp = user.from.startsWith(WHATSAPP);
    return {
      ToCountry: 'US',
      ToState: 'CA',
      SmsMessageSid: messageSid,
      ToCity: '',
      FromZip: whatsapp ? '' : '94105',
      SmsSid: messageSid,
      FromState: whatsapp ? '' : 'CA',
      SmsStatus: 'received',
      FromCity: whatsapp ? '' : 'SAN FRANCISCO',
      FromCountry: whatsapp ? '' : 'US',
      To: whatsapp ? `${WHATSAPP}${bare(to)}` : to,
      ToZip: '',
      MessageSid: messageSid,
      AccountSid: this.accountSid,
      From: user.from,
      ApiVersion: '2010-04-01',
      ...(whatsapp ? { ProfileName: user.profileName ?? 'Test User', WaId: bare(user.from).slice(1) } : {}),
    };
  }

  /** An SMS (or, with a `whatsapp:` sender, a WhatsApp text) from the user. */
  text(webhookUrl: string, user: InboundUser, body: string, options: { to?: string; repliedTo?: string } = {}): Promise<Request> {
    const sid = twilioSid('SM');
    const whatsapp = user.from.startsWith(WHATSAPP);
    return this.signed(webhookUrl, {
      ...this.messageFields(sid, user, options.to ?? this.phoneNumber),
      Body: body,
      NumMedia: '0',
      NumSegments: '1',
      ...(whatsapp ? { MessageType: 'text' } : {}),
      ...(options.repliedTo ? { OriginalRepliedMessageSid: options.repliedTo, OriginalRepliedMessageSender: bare(options.to ?? this.phoneNumber) } : {}),
    });
  }

  /** An MMS (or WhatsApp media message) with each item stored behind an authenticated media URL. */
  media(webhookUrl: string, user: InboundUser, items: { contentType: string; body?: Uint8Array | string }[], caption = '', options: { to?: string } = {}): Promise<Request> {
    const sid = twilioSid('MM');
    const fields: Record<string, string> = {
      ...this.messageFields(sid, user, options.to ?? this.phoneNumber),
      Body: caption,
      NumMedia: String(items.length),
      NumSegments: '1',
    };
    items.forEach((item, i) => {
      fields[`MediaContentType${i}`] = item.contentType;
      fields[`MediaUrl${i}`] = this.addMedia(sid, item.body ?? `media ${i}`, item.contentType);
    });
    if (user.from.startsWith(WHATSAPP)) fields.MessageType = items[0]?.contentType.split('/')[0] ?? 'document';
    return this.signed(webhookUrl, fields);
  }

  /** A WhatsApp location share. */
  location(webhookUrl: string, user: InboundUser, place: { lat: number; long: number; address?: string; label?: string }): Promise<Request> {
    const sid = twilioSid('SM');
    return this.signed(webhookUrl, {
      ...this.messageFields(sid, user, this.phoneNumber),
      Body: '',
      NumMedia: '0',
      NumSegments: '1',
      MessageType: 'location',
      Latitude: String(place.lat),
      Longitude: String(place.long),
      ...(place.address ? { Address: place.address } : {}),
      ...(place.label ? { Label: place.label } : {}),
    });
  }

  /** A WhatsApp quick-reply or template button tap. */
  buttonTap(webhookUrl: string, user: InboundUser, button: { text: string; payload: string; repliedTo?: string }): Promise<Request> {
    const sid = twilioSid('SM');
    return this.signed(webhookUrl, {
      ...this.messageFields(sid, user, this.phoneNumber),
      Body: button.text,
      NumMedia: '0',
      NumSegments: '1',
      MessageType: 'button',
      ButtonText: button.text,
      ButtonPayload: button.payload,
      ...(button.repliedTo ? { OriginalRepliedMessageSid: button.repliedTo } : {}),
    });
  }

  /** A status callback for one of our messages: `from` is our sender, `to` the recipient. */
  status(
    webhookUrl: string,
    message: { sid: string; to: string; from?: string; status: string; errorCode?: string; errorMessage?: string },
  ): Promise<Request> {
    const whatsapp = message.to.startsWith(WHATSAPP);
    const from = message.from ?? (whatsapp ? `${WHATSAPP}${this.phoneNumber}` : this.phoneNumber);
    return this.signed(webhookUrl, {
      SmsSid: message.sid,
      SmsStatus: message.status,
      MessageStatus: message.status,
      To: message.to,
      MessageSid: message.sid,
      AccountSid: this.accountSid,
      From: from,
      ApiVersion: '2010-04-01',
      ...(message.errorCode ? { ErrorCode: message.errorCode } : {}),
      ...(message.errorMessage ? { ErrorMessage: message.errorMessage } : {}),
      ...(whatsapp && message.status === 'read' ? { ChannelToAddress: bare(message.to) } : {}),
    });
  }

  /**
   * Plays a sent message's lifecycle to its StatusCallback, one attempt per
   * status as Twilio makes (no retries; no callback for the initial queued).
   * An unreachable endpoint shows up as status 599 in the returned list.
   */
  async progress(sid: string, statuses: string[] = ['sent', 'delivered'], failure?: { errorCode: string; errorMessage: string }): Promise<Response[]> {
    const message = this.messages.get(sid);
    if (!message?.statusCallback) throw new Error(`message ${sid} has no StatusCallback`);
    const responses: Response[] = [];
    for (const status of statuses) {
      message.status = status;
      const failed = status === 'failed' || status === 'undelivered';
      const request = await this.status(message.statusCallback, {
        sid,
        to: message.to,
        ...(message.from ? { from: message.from } : {}),
        status,
        ...(failed && failure ? failure : {}),
      });
      responses.push(await this.deliver(request).catch(() => new Response(null, { status: 599 })));
    }
    return responses;
  }
}
