/**
 * What README's channel table says about each channel that the code cannot:
 * how inbound requests are verified, which send call goes out, what the
 * customer sets up on the channel's side, and the nuances of its rendering.
 * The rest of each row (the create fields, which secrets, what is native and
 * what falls back, with its limits) is generated from the adapter itself by
 * channel-table.ts; a registered channel without an entry here fails the test.
 */

export interface ChannelDoc {
  /** Shown after the type: `(Cloud API)`. */
  label?: string;
  /** Per create field, a few words after its name: `generated if absent`. */
  fieldNotes?: Record<string, string>;
  inbound: string;
  outbound: string;
  /** What the generated native/fallback lists cannot say (windows, numbering, maps). */
  renderNote?: string;
  setup: string;
}

export const CHANNEL_DOCS: Record<string, ChannelDoc> = {
  whatsapp: {
    label: 'Cloud API',
    fieldNotes: { verifyToken: 'generated if absent' },
    inbound: 'GET `hub.challenge` handshake with `verifyToken`; POST signed `X-Hub-Signature-256` (app secret)',
    outbound: 'Graph `POST /{phoneNumberId}/messages`',
    renderNote: '4–10 options go as a list; a carousel goes as one message per card; outside the 24-hour window only `template` content goes out (else failure `131047`)',
    setup: 'Meta app → WhatsApp → Configuration: callback URL = `webhookUrl`, verify token = the integration\'s `verifyToken`, subscribe to `messages`',
  },
  messenger: {
    fieldNotes: { verifyToken: 'generated if absent' },
    inbound: 'same Meta handshake and signature',
    outbound: 'Graph `POST /{pageId}/messages`',
    renderNote: 'buttons as the button template, carousel as the generic template; location → text with a map link',
    setup: 'Meta app → Messenger → Webhooks: callback `webhookUrl`, verify token, subscribe the page to `messages`, `messaging_postbacks`, `message_deliveries`, `message_reads`, `messaging_referrals`',
  },
  instagram: {
    fieldNotes: { verifyToken: 'generated if absent' },
    inbound: 'same Meta handshake and signature',
    outbound: 'Graph `POST /{pageId}/messages`',
    setup: 'Meta app → Instagram → Webhooks, as for Messenger (`messages`, `messaging_postbacks`, `messaging_seen`)',
  },
  telegram: {
    fieldNotes: { token: 'from @BotFather', secretToken: 'generated at create', username: 'learned at create', botId: 'learned at create' },
    inbound: '`X-Telegram-Bot-Api-Secret-Token`, registered by Parley',
    outbound: 'Bot API `sendMessage`, `sendPhoto`, …',
    renderNote: 'text as HTML; quick replies and the location request as a reply keyboard; a carousel as one photo with buttons per card',
    setup: 'nothing: Parley calls `setWebhook` with a secret token at create (and `deleteWebhook` at delete)',
  },
  twilio: {
    fieldNotes: { phoneNumberSid: 'either this', messagingServiceSid: 'or this' },
    inbound: '`X-Twilio-Signature` (HMAC-SHA1 of URL + sorted form fields)',
    outbound: '`POST /2010-04-01/Accounts/{sid}/Messages.json`',
    renderNote: 'SMS/MMS: buttons, quick replies and carousels as numbered text (a reply "2" maps back to option 2\'s payload), links as "Label: url" lines, location as a map link',
    setup: 'with `phoneNumberSid` Parley sets the number\'s "A message comes in" URL; with a messaging service, set its inbound URL to `webhookUrl` yourself',
  },
  line: {
    fieldNotes: { channelSecret: 'may come later: until it is set every webhook is refused' },
    inbound: '`X-Line-Signature` (base64 HMAC-SHA256 of the raw body, channel secret); LINE\'s empty verification request is answered 200',
    outbound: 'reply token first (fresh, unused), else push with `X-Line-Retry-Key` (stable per delivery part: a retried push is a 409, counted as sent)',
    renderNote: 'buttons as a buttons/confirm template or Flex, a carousel as a template or Flex carousel; video and audio as links (LINE needs a preview image and a duration a v2 message lacks)',
    setup: 'Parley sets the webhook endpoint (`PUT /v2/bot/channel/webhook/endpoint`); turn "Use webhook" on in the LINE console',
  },
  viber: {
    fieldNotes: { senderName: 'Viber requires a sender name; default: the bot\'s name' },
    inbound: '`X-Viber-Content-Signature` (hex HMAC-SHA256 of the raw body, token); 64-bit `message_token` read as a string',
    outbound: '`POST /pa/send_message`',
    renderNote: 'buttons and quick replies as a keyboard, a carousel as `rich_media`; audio as a file',
    setup: 'Parley calls `set_webhook` (Viber checks the URL during the call) and removes it on delete',
  },
  messagebird: {
    label: 'SMS',
    fieldNotes: { originator: 'E.164' },
    inbound: '`MessageBird-Signature-JWT` (HS256 with the signing key; `url_hash` of the called URL, `payload_hash` of the raw body, `nbf`/`exp`); status reports by GET (the report in the query, which `url_hash` covers) or POST',
    outbound: '`POST /messages` with `AccessKey` auth, `reportUrl` and a `reference` (MessageBird reports only messages that carry one)',
    renderNote: 'plain SMS: buttons, quick replies and carousels as numbered text, links as "Label: url" lines',
    setup: 'none through the API: paste `webhookUrl` into a Flow Builder "Call HTTP endpoint with SMS" step (POST, JSON)',
  },
  mailgun: {
    label: 'email',
    fieldNotes: { signingKey: 'the HTTP webhook signing key; default: the API key' },
    inbound: 'form fields\' `timestamp` + `token` HMAC-SHA256, 5-minute window, a token replayed with another mail refused (each token recorded once in D1, shared by every instance); quoted history stripped; attachments stored',
    outbound: '`POST /v3/{domain}/messages`, HTML and text, `Reply-To: incomingAddress`, threaded on the user\'s first mail',
    renderNote: 'images inline; postbacks and quick replies as mailto links pre-filled with "#N" (a reply "#N" maps back); carousels as stacked cards',
    setup: 'Parley creates the inbound route (`match_recipient(incomingAddress)` → `forward(webhookUrl)`) and deletes it on delete; point the domain\'s delivered/failed webhooks at `webhookUrl` yourself',
  },
  twitter: {
    label: 'X DMs',
    fieldNotes: { tier: 'required by Sunshine\'s client (`enterprise`, `premium` or `sandbox`); unused since X API v2', envName: 'accepted, unused (v2 has no dev environments)' },
    inbound: 'GET CRC (`crc_token` answered with `sha256=` base64 HMAC-SHA256 under the consumer secret); POST `x-twitter-webhooks-signature` over the raw body; v2 Account Activity payloads; event ids deduped for 8 days, bodies with events older than 7 days refused',
    outbound: '`POST /2/dm_conversations/with/{userId}/messages`, OAuth 1.0a (HMAC-SHA1) as the account; images and videos uploaded with `/2/media/upload` (initialize / append / finalize, STATUS while X processes)',
    renderNote: 'v2 DMs carry text and one attachment only: choices numbered in the text ("Reply with the number…"), links as "Label: url" lines, carousels as one numbered text; JPEG/PNG/WEBP ≤ 5 MB, GIF ≤ 15 MB, MP4/MOV ≤ 100 MB (X allows 512) attached with the caption as the text; other types, larger files, and downloads of unstated length over 32 MiB go as the caption and the link (nothing lost); a retry resumes an upload X still holds (until its `expires_after_secs`), waiting up to 5 minutes an attempt for X to process a video; a DM POST that times out is retried and may reach the user twice (v2 DMs take no idempotency key); no typing indicator',
    setup: 'Parley reads the account (`/2/users/me`), registers `webhookUrl` with `POST /2/webhooks` as the app (Bearer token from `/oauth2/token`; X runs a CRC against it) and subscribes the account; on delete it unsubscribes and deletes the webhook. Needs Account Activity API access and Read, write and Direct Messages permission. Integrations set up under v1.1 move to v2 when their access token is PATCHed. Each integration registers its own webhook URL and X Pro allows one webhook per X app, so a second account under the same app fails setup with `WebhookLimitExceeded`: use one X app per account, or a plan that allows more webhooks',
  },
  apple: {
    label: 'Messages for Business',
    fieldNotes: { apiSecret: 'base64, from the MSP', authenticationMessageSecret: 'stored, not used yet' },
    inbound: '`Authorization: Bearer` JWT (HS256 under the base64-decoded secret, `aud` = `mspId`, `iat` within an hour, `alg` checked); `destination-id` must be the business; bodies ≤ 1 MB, gzip inflated to ≤ 4 MB; `id` header deduped; attachments (≤ 100 MB) fetched through `preDownload` and decrypted (AES-256-CTR) as they stream into R2, their length checked against the size announced',
    outbound: '`POST /v1/message` with a JWT (`iss` = `mspId`), the message `id` stable per delivery part; media encrypted under a fresh key (AES-256-CTR), `GET /v1/preUpload` (`MMCS-Size`), uploaded, then attached (`signature-base64`, `url`, `owner`, `key`)',
    renderNote: 'postbacks as a list picker and 2–5 quick replies as a quick reply only when the device lists `LIST` / `QUICK`, else numbered in the text; links as rich links; any file type ≤ 100 MB attached with its caption in the same message (a bigger one, or one whose download states no length and runs past 32 MiB, goes as its link); the download, encryption and upload get 60 s + 1 s per MiB (≤ 10 min); a file the URL does not serve, or a preUpload 4xx, fails the delivery; conversations are user-initiated only; `POST …/conversations/{id}/download` (downloadMessageRef) reads large interactive replies',
    setup: 'none through the API: point your MSP account\'s webhook at `webhookUrl`',
  },
  wechat: {
    label: 'Official Account',
    fieldNotes: { token: 'generated if absent', encodingAesKey: 'set it to require safe mode' },
    inbound: 'GET `echostr` check and POSTed XML signed with SHA-1 over the sorted token/timestamp/nonce, 5-minute window; plain mode binds each signature to the first body it came with (recorded once in D1); safe mode (`encrypt_type=aes`) adds `msg_signature` over the AES-256-CBC ciphertext; 64-bit `MsgId` read as a string',
    outbound: '`POST /cgi-bin/message/custom/send` with a stable access token (`/cgi-bin/stable_token`, refreshed on 40001/42001)',
    renderNote: 'postbacks and quick replies as one `msgmenu` (verified service accounts), links as `<a>` in the text, images uploaded as temporary media; only within 48 hours of the user\'s last message (else failure `45015`)',
    setup: 'Official Account Platform → server configuration: URL = `webhookUrl`, Token = the integration\'s `token`, EncodingAESKey and safe mode if you set one',
  },
};
