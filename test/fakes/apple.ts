/**
 * A stand-in for Apple's Messages for Business gateway, speaking the MSP REST
 * API: every call must carry `Authorization: Bearer <JWT>` (HS256 keyed by
 * the base64-decoded MSP secret, `iss` = the MSP id, a fresh `iat`; missing
 * → 401, anything wrong → 403). `POST /v1/message` checks the `id`,
 * `source-id` and `destination-id` headers against the body and the shape of
 * text, interactive (list picker, quick reply) and rich link messages, and
 * answers 410 to a customer who closed the conversation. Files live on a
 * separate storage host, encrypted for real with AES-256-CTR (zero IV, key
 * given as "00" + hex): `GET /v1/preDownload` trades MMCS-Url, the base64
 * MMCS-Signature and MMCS-Owner for a download URL (served in chunks, as
 * they are pulled, with the file's content-length); `GET /v1/preUpload`
 * takes MMCS-Size (the encrypted size) and answers upload-url, mmcs-url and
 * mmcs-owner; the upload (POST to upload-url, no token, exactly MMCS-Size
 * bytes) answers `{"singleFile": {"fileChecksum"}}`; a message's
 * attachments must name an uploaded file by url, owner, size and
 * signature-base64, carry a "00"+hex key under which the file decrypts, and
 * have a U+FFFC each in the body: the decrypted bytes are kept for the test.
 * `POST /v1/decodePayload` turns the decrypted bytes of a large interactive
 * reply back into its JSON.
 *
 * It also plays Apple's side of the MSP endpoint: signed (JWT with `aud` =
 * the MSP id), optionally gzipped requests with Apple's headers for texts,
 * attachments, typing, close, list picker and quick reply answers, and
 * interactive data references. Web-standard APIs only.
 */
import { decodeJwt, signJwt, verifyHs256 } from '../../src/auth/jwt';
import { aesCtr } from '../../src/channels/apple-cipher';
import { fromBase64, toBase64, toHex } from '../../src/channels/signing';

type Json = Record<string, any>;

export interface AppleFakeOptions {
  businessId?: string;
  mspId?: string;
  /** The MSP secret as Apple Business Register shows it: base64. */
  apiSecret?: string;
  /** The gateway's origin (the integration's apiBaseUrl) and the file storage's. */
  origin?: string;
  storageOrigin?: string;
  now?: () => number;
}

export interface AppleCall {
  /** `message`, `preDownload`, `preUpload`, `decodePayload`, `download` or `upload`. */
  endpoint: string;
  headers: Record<string, string>;
  body: Json | undefined;
  status: number;
}

export interface AppleCustomer {
  id: string;
  capabilities?: string[];
  deviceAgent?: string;
  locale?: string;
}

export const EVERY_CAPABILITY = ['QUICK', 'LIST', 'TIME', 'AUTH', 'AUTH2', 'FORM'];

const BID = 'com.apple.messages.MSMessageExtensionBalloonPlugin:0000000000:com.apple.icloud.apps.messages.business.extension';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Apple's own stand-in encoding for the fake: the real decodePayload input is an opaque Apple format only Apple reads. */
const ENCODED_PREFIX = 'bplist00';

const randomHex = (n: number) => toHex(crypto.getRandomValues(new Uint8Array(n)));
const fromHexString = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
const enc = new TextEncoder();

export class AppleFake {
  readonly businessId: string;
  readonly mspId: string;
  readonly apiSecret: string;
  readonly origin: string;
  readonly storageOrigin: string;
  readonly calls: AppleCall[] = [];
  /** Messages the business sent, per customer, in order. */
  readonly sent = new Map<string, Json[]>();
  /** Customers who closed their conversation: sends to them answer 410. */
  readonly closed = new Set<string>();
  /** What each attachment the business sent decrypts to, by its mmcs url. */
  readonly received = new Map<string, Uint8Array>();
  /** Per download served: how many chunks the reader had pulled, and whether the last one was. */
  readonly downloadsServed: { pulled: number; chunks: number }[] = [];
  /** The size of the chunks downloads are served in. */
  chunkBytes = 64 * 1024;

  private readonly now: () => number;
  private readonly failures: number[] = [];
  private readonly preUploadFailures: number[] = [];
  private readonly uploads = new Map<string, { size: number; url: string; owner: string }>();
  private readonly files = new Map<string, { encrypted: Uint8Array; signature: string; owner: string }>();
  private readonly downloads = new Map<string, string>();

  constructor(options: AppleFakeOptions = {}) {
    this.businessId = options.businessId ?? '2f4c8a1e-6b3d-4e7f-9a0c-1d2e3f4a5b6c';
    this.mspId = options.mspId ?? '9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
    this.apiSecret = options.apiSecret ?? toBase64(enc.encode('an MSP secret of thirty-two b!!!'));
    this.origin = options.origin ?? 'https://mspgw.apple.test';
    this.storageOrigin = options.storageOrigin ?? 'https://mmcs.apple.test';
    this.now = options.now ?? (() => Date.now());
  }

  /** The next n `/v1/message` calls answer this HTTP status. */
  failNext(n: number, status = 503): void {
    for (let i = 0; i < n; i++) this.failures.push(status);
  }

  /** The next n `/v1/preUpload` calls answer this HTTP status. */
  failNextPreUpload(n: number, status = 503): void {
    for (let i = 0; i < n; i++) this.preUploadFailures.push(status);
  }

  /** How many files the upload has stored (a partial or failed upload stores none). */
  get storedFiles(): number {
    return this.files.size;
  }

  /** A stored file decrypted under `key`, as the customer's device would open it; undefined when nothing is stored at `url`. */
  async opened(url: string, key: string): Promise<Uint8Array | undefined> {
    const file = this.files.get(url);
    return file && aesCtr(key, file.encrypted);
  }

  callsTo(endpoint: string): AppleCall[] {
    return this.calls.filter((c) => c.endpoint === endpoint);
  }

  // ---- the gateway ------------------------------------------------------------------

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    // Storage and gateway may share an origin (the bench serves both on one port): storage never has /v1/ paths.
    if (url.origin === this.storageOrigin && !url.pathname.startsWith('/v1/')) return this.serveFile(request, url);
    const endpoint = /^\/v1\/(message|preDownload|preUpload|decodePayload)$/.exec(url.pathname)?.[1];
    const raw = new Uint8Array(await request.arrayBuffer());
    let body: Json | undefined;
    if (endpoint === 'message') {
      try {
        body = JSON.parse(new TextDecoder().decode(raw));
      } catch {
        body = undefined;
      }
    }
    const record = (response: Response) => {
      this.calls.push({ endpoint: endpoint ?? url.pathname, headers: Object.fromEntries(request.headers), body, status: response.status });
      return response;
    };
    if (!endpoint) return record(new Response('Not Found', { status: 404 }));
    const auth = await this.checkToken(request.headers.get('authorization'));
    if (auth) return record(new Response(null, { status: auth }));
    if (request.headers.get('source-id') !== this.businessId) return record(new Response(null, { status: 403 }));
    if (endpoint === 'message') return record(await this.message(request, body));
    if (endpoint === 'preDownload') return record(this.preDownload(request));
    if (endpoint === 'preUpload') return record(this.preUpload(request));
    return record(this.decodePayload(request, raw));
  }

  /** 401 without a bearer token, 403 for one not signed by this MSP's secret or not fresh. */
  private async checkToken(header: string | null): Promise<number | undefined> {
    const token = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
    if (!token) return 401;
    const jwt = decodeJwt(token);
    if (!jwt || jwt.header.alg !== 'HS256' || !(await verifyHs256(jwt, fromBase64(this.apiSecret)))) return 403;
    const iat = jwt.payload.iat;
    if (jwt.payload.iss !== this.mspId || typeof iat !== 'number' || Math.abs(iat - this.now() / 1000) > 600) return 403;
    return undefined;
  }

  private async message(request: Request, body: Json | undefined): Promise<Response> {
    const failure = this.failures.shift();
    // Apple's throttling answer says when to come back.
    if (failure) return new Response(null, { status: failure, headers: failure === 429 ? { 'retry-after': '2' } : {} });
    const id = request.headers.get('id');
    const destination = request.headers.get('destination-id');
    if (!body || !id || !UUID.test(id) || body.id !== id || body.v !== 1 || !destination || body.destinationId !== destination || body.sourceId !== this.businessId) return new Response(null, { status: 400 });
    if (!this.shapeOk(body)) return new Response(null, { status: 400 });
    if (body.attachments !== undefined && !(await this.attachmentsOk(body))) return new Response(null, { status: 400 });
    if (this.closed.has(destination)) return new Response(null, { status: 410 });
    this.sent.set(destination, [...(this.sent.get(destination) ?? []), body]);
    return new Response(null, { status: 200 });
  }

  private shapeOk(b: Json): boolean {
    const str = (x: unknown) => typeof x === 'string' && x !== '';
    switch (b.type) {
      case 'text':
        return str(b.body);
      case 'typing_start':
      case 'typing_end':
        return true;
      case 'richLink':
        return str(b.richLinkData?.url) && str(b.richLinkData?.title);
      case 'interactive': {
        const d = b.interactiveData;
        if (!str(d?.bid) || !str(d?.data?.requestIdentifier) || !str(d?.data?.version ?? d?.data?.mspVersion)) return false;
        const quick = d.data['quick-reply'];
        if (quick) return Array.isArray(quick.items) && quick.items.length >= 2 && quick.items.length <= 5 && quick.items.every((i: Json) => str(i.identifier) && str(i.title));
        const list = d.data.listPicker;
        if (list) return str(d.receivedMessage?.title) && Array.isArray(list.sections) && list.sections.every((s: Json) => Array.isArray(s.items) && s.items.every((i: Json) => str(i.identifier) && str(i.title)));
        return true;
      }
      default:
        return false;
    }
  }

  /** Every attachment names a file uploaded here, by its url, owner, size and checksum, and decrypts under its key. */
  private async attachmentsOk(body: Json): Promise<boolean> {
    const list = body.attachments;
    if (body.type !== 'text' || !Array.isArray(list) || list.length === 0) return false;
    if ((String(body.body).match(/\uFFFC/g) ?? []).length < list.length) return false;
    const opened: [string, Uint8Array][] = [];
    for (const a of list as Json[]) {
      const file = this.files.get(a.url);
      if (!file || typeof a.name !== 'string' || !a.name || typeof a.mimeType !== 'string' || !a.mimeType) return false;
      if (a.owner !== file.owner || a.size !== String(file.encrypted.byteLength) || a['signature-base64'] !== toBase64(fromHexString(file.signature))) return false;
      if (typeof a.key !== 'string' || !/^00[0-9a-fA-F]{64}$/.test(a.key)) return false;
      opened.push([a.url, await aesCtr(a.key, file.encrypted)]);
    }
    for (const [url, plain] of opened) this.received.set(url, plain);
    return true;
  }

  private preUpload(request: Request): Response {
    const failure = this.preUploadFailures.shift();
    if (failure) return new Response(null, { status: failure });
    const size = request.headers.get('MMCS-Size') ?? '';
    if (!/^\d{1,9}$/.test(size) || Number(size) === 0 || Number(size) > 100 * 1024 * 1024) return new Response(null, { status: 400 });
    const token = randomHex(16);
    const url = `${this.storageOrigin}/mmcs/${randomHex(8)}`;
    const owner = `${randomHex(6)}.apple`;
    this.uploads.set(token, { size: Number(size), url, owner });
    return Response.json({ 'upload-url': `${this.storageOrigin}/upload/${token}`, 'mmcs-url': url, 'mmcs-owner': owner });
  }

  /** The upload: exactly the size preUpload was told, once; no MSP token goes to storage. */
  private async upload(request: Request, token: string): Promise<Response> {
    const slot = this.uploads.get(token);
    const bytes = new Uint8Array(await request.arrayBuffer());
    const declared = request.headers.get('content-length');
    if (!slot || request.method !== 'POST') return new Response('Not Found', { status: 404 });
    if (request.headers.has('authorization') || bytes.byteLength !== slot.size || (declared !== null && Number(declared) !== slot.size)) return new Response(null, { status: 400 });
    this.uploads.delete(token);
    const signature = randomHex(21);
    this.files.set(slot.url, { encrypted: bytes, signature, owner: slot.owner });
    return Response.json({ singleFile: { fileChecksum: toBase64(fromHexString(signature)) } });
  }

  private preDownload(request: Request): Response {
    const url = request.headers.get('MMCS-Url') ?? '';
    const file = this.files.get(url);
    if (!file) return new Response(null, { status: 404 });
    const signature = request.headers.get('MMCS-Signature') ?? '';
    const given = (() => {
      try {
        return toHex(Uint8Array.from(atob(signature), (c) => c.charCodeAt(0)));
      } catch {
        return '';
      }
    })();
    if (given !== file.signature.toLowerCase() || request.headers.get('MMCS-Owner') !== file.owner) return new Response(null, { status: 400 });
    const token = randomHex(16);
    this.downloads.set(token, url);
    return Response.json({ 'download-url': `${this.storageOrigin}/download/${token}` });
  }

  private async serveFile(request: Request, url: URL): Promise<Response> {
    const upload = /^\/upload\/([0-9a-f]+)$/.exec(url.pathname)?.[1];
    if (upload) {
      const response = await this.upload(request, upload);
      this.calls.push({ endpoint: 'upload', headers: Object.fromEntries(request.headers), body: undefined, status: response.status });
      return response;
    }
    const token = /^\/download\/([0-9a-f]+)$/.exec(url.pathname)?.[1];
    const file = token ? this.files.get(this.downloads.get(token) ?? '') : undefined;
    const response = file ? this.chunked(file.encrypted) : new Response('Not Found', { status: 404 });
    this.calls.push({ endpoint: 'download', headers: Object.fromEntries(request.headers), body: undefined, status: response.status });
    return response;
  }

  /** The file as storage sends it: its length stated, the bytes in chunks made only as the reader pulls them. */
  private chunked(encrypted: Uint8Array): Response {
    const served = { pulled: 0, chunks: Math.max(1, Math.ceil(encrypted.byteLength / this.chunkBytes)) };
    this.downloadsServed.push(served);
    const size = this.chunkBytes;
    const stream = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          const chunk = encrypted.slice(served.pulled * size, (served.pulled + 1) * size);
          served.pulled++;
          if (chunk.byteLength) controller.enqueue(chunk);
          if (served.pulled >= served.chunks) controller.close();
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(stream, { headers: { 'content-type': 'application/octet-stream', 'content-length': String(encrypted.byteLength) } });
  }

  private decodePayload(request: Request, raw: Uint8Array): Response {
    const text = new TextDecoder().decode(raw);
    if (!request.headers.get('bid') || !text.startsWith(ENCODED_PREFIX)) return new Response(null, { status: 400 });
    try {
      return Response.json(JSON.parse(text.slice(ENCODED_PREFIX.length)));
    } catch {
      return new Response(null, { status: 400 });
    }
  }

  /** Stores bytes encrypted as Apple's storage holds them; returns what a message carries to find and decrypt them. */
  async storeFile(plain: Uint8Array): Promise<{ url: string; key: string; signature: string; owner: string; size: number }> {
    const key = `00${randomHex(32)}`;
    const encrypted = await aesCtr(key, plain);
    const url = `${this.storageOrigin}/mmcs/${randomHex(8)}`;
    const signature = randomHex(21);
    const owner = `${randomHex(6)}.apple`;
    this.files.set(url, { encrypted, signature, owner });
    return { url, key, signature, owner, size: encrypted.byteLength };
  }

  // ---- Apple's side of the MSP endpoint ----------------------------------------------------

  /** A token as Apple signs its calls to an MSP: `aud` = the MSP id, `iat` now. */
  token(overrides: { secret?: string; aud?: unknown; iat?: number; alg?: string } = {}): Promise<string> {
    const payload = { aud: overrides.aud ?? this.mspId, iat: overrides.iat ?? Math.floor(this.now() / 1000) };
    return signJwt({ alg: overrides.alg ?? 'HS256', typ: 'JWT' }, payload, fromBase64(overrides.secret ?? this.apiSecret));
  }

  /** One request as Apple POSTs it to the MSP endpoint: signed, with its routing headers, gzipped unless told otherwise. */
  async request(url: string, customer: AppleCustomer, body: Json, options: { id?: string; gzip?: boolean; token?: string } = {}): Promise<Request> {
    const id = options.id ?? crypto.randomUUID();
    // Writing again reopens a closed conversation.
    if (body.type !== 'close') this.closed.delete(customer.id);
    const json = enc.encode(JSON.stringify({ v: 1, id, sourceId: customer.id, destinationId: this.businessId, ...body }));
    const gzip = options.gzip ?? true;
    const payload = gzip ? new Uint8Array(await new Response(new Blob([json]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer()) : json;
    const headers: Record<string, string> = {
      authorization: `Bearer ${options.token ?? (await this.token())}`,
      'content-type': 'application/json',
      id,
      'source-id': customer.id,
      'destination-id': this.businessId,
      'capability-list': (customer.capabilities ?? EVERY_CAPABILITY).join(','),
      'device-agent': customer.deviceAgent ?? 'iPhone OS',
      locale: customer.locale ?? 'en_US',
    };
    if (gzip) headers['content-encoding'] = 'gzip';
    return new Request(url, { method: 'POST', headers, body: payload });
  }

  text(url: string, customer: AppleCustomer, text: string, options: { id?: string; gzip?: boolean } = {}): Promise<Request> {
    return this.request(url, customer, { type: 'text', body: text }, options);
  }

  /** A picture or file the customer sent: encrypted into storage, announced with its key, signature and owner. */
  async attachment(url: string, customer: AppleCustomer, bytes: Uint8Array, mimeType: string, name: string, caption = ''): Promise<Request> {
    const file = await this.storeFile(bytes);
    return this.request(url, customer, { type: 'text', body: `\uFFFC${caption}`, attachments: [{ name, mimeType, ...file }] });
  }

  typing(url: string, customer: AppleCustomer, on: boolean): Promise<Request> {
    return this.request(url, customer, { type: on ? 'typing_start' : 'typing_end' });
  }

  close(url: string, customer: AppleCustomer): Promise<Request> {
    this.closed.add(customer.id);
    return this.request(url, customer, { type: 'close' });
  }

  /** The last interactive message of that kind the business sent this customer. */
  private lastInteractive(customerId: string, kind: 'listPicker' | 'quick-reply'): Json {
    const found = [...(this.sent.get(customerId) ?? [])].reverse().find((m) => m.type === 'interactive' && m.interactiveData?.data?.[kind]);
    if (!found) throw new Error(`the business sent ${customerId} no ${kind}`);
    return found.interactiveData;
  }

  /** The customer picks items of the last list picker: Apple answers with the picker, its sections listing the selected items. */
  listPickerReply(url: string, customer: AppleCustomer, titles: string[]): Promise<Request> {
    const d = this.lastInteractive(customer.id, 'listPicker');
    const sections = (d.data.listPicker.sections as Json[]).map((s) => ({ ...s, items: (s.items as Json[]).filter((i) => titles.includes(i.title)) }));
    return this.request(url, customer, { type: 'interactive', interactiveData: { bid: d.bid, data: { ...d.data, listPicker: { sections }, replyMessage: d.replyMessage } } });
  }

  /** The customer taps a quick reply item. */
  quickReply(url: string, customer: AppleCustomer, title: string): Promise<Request> {
    const d = this.lastInteractive(customer.id, 'quick-reply');
    const items = d.data['quick-reply'].items as Json[];
    const index = items.findIndex((i) => i.title === title);
    if (index < 0) throw new Error(`no quick reply item "${title}"`);
    return this.request(url, customer, { type: 'interactive', interactiveData: { bid: d.bid, data: { version: '1.0', requestIdentifier: d.data.requestIdentifier, 'quick-reply': { selectedIdentifier: items[index]!.identifier, selectedIndex: index } } } });
  }

  /** An interactive reply over 10 KB: Apple stores it encrypted and sends a reference to it. */
  async largeInteractive(url: string, customer: AppleCustomer, interactiveData: Json): Promise<{ request: Request; ref: Json }> {
    const file = await this.storeFile(enc.encode(ENCODED_PREFIX + JSON.stringify(interactiveData)));
    const ref = { bid: BID, ...file };
    return { request: await this.request(url, customer, { type: 'interactive', interactiveDataRef: ref }), ref };
  }
}
