/** A minimal client for Parley's REST API with the demo app's key (HTTP Basic), as a customer's server would call it. */

export interface Credentials {
  parleyUrl: string;
  appId: string;
  keyId: string;
  keySecret: string;
}

export interface Answer {
  status: number;
  body: any;
}

export class ParleyApi {
  readonly base: string;
  private readonly auth: string;

  constructor(readonly credentials: Credentials) {
    this.base = credentials.parleyUrl.replace(/\/+$/, '');
    this.auth = `Basic ${Buffer.from(`${credentials.keyId}:${credentials.keySecret}`).toString('base64')}`;
  }

  /** `path` is relative to `/v2/apps/{appId}`. */
  async app(method: string, path: string, body?: unknown): Promise<Answer> {
    const res = await fetch(`${this.base}/v2/apps/${this.credentials.appId}${path}`, {
      method,
      headers: { authorization: this.auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    return { status: res.status, body: json };
  }

  /** Like `app`, but anything other than the expected statuses is an error naming Parley's answer. */
  async expect(statuses: number[], method: string, path: string, body?: unknown): Promise<Answer> {
    const answer = await this.app(method, path, body);
    if (!statuses.includes(answer.status)) {
      const title = answer.body?.errors?.[0]?.title ?? (typeof answer.body === 'string' ? answer.body.slice(0, 200) : JSON.stringify(answer.body));
      throw new Error(`${method} /v2/apps/{appId}${path} answered ${answer.status}: ${title}`);
    }
    return answer;
  }

  /** The curl command that posts `text` as the business into a conversation. */
  curlReply(conversationId: string, text = 'Hello from the business!'): string {
    const { keyId, keySecret, appId } = this.credentials;
    const body = JSON.stringify({ author: { type: 'business' }, content: { type: 'text', text } });
    return `curl -u ${keyId}:${keySecret} -X POST ${this.base}/v2/apps/${appId}/conversations/${conversationId}/messages \\\n  -H 'content-type: application/json' -d '${body.replace(/'/g, "'\\''")}'`;
  }
}
