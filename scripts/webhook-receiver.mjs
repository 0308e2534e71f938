/**
 * `npm run webhook-receiver`: a customer webhook receiver for trying Parley
 * locally. Listens on http://127.0.0.1:8797/webhook (WEBHOOK_RECEIVER_PORT
 * moves it), checks each delivery as a customer's server should — `X-API-Key`
 * as Sunshine sends it, and the Standard Webhooks signature
 * (`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed
 * with the base64 part of the `whsec_` secret, several during a rotation)
 * with a timestamp at most 5 minutes off — and prints each event on one line.
 * A delivery that fails the check is answered 401 and printed as refused.
 *
 * The secret: WEBHOOK_SECRET (comma-separated for several), or else looked up
 * through the API with PARLEY, APP and KEY (the line `npm start` prints): the
 * webhooks whose target is this receiver. It is looked up again when a
 * signature does not match, so the integration may be created after this starts.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const port = Number(process.env.WEBHOOK_RECEIVER_PORT ?? 8797);
const target = `http://127.0.0.1:${port}/webhook`;
const { PARLEY = 'http://127.0.0.1:8787', APP, KEY } = process.env;
const TOLERANCE_S = 300;

let secrets = (process.env.WEBHOOK_SECRET ?? '').split(',').filter(Boolean);
const fixedSecrets = secrets.length > 0;

/** The secrets of the app's webhooks that target this receiver. */
async function lookUpSecrets() {
  if (fixedSecrets || !APP || !KEY) return secrets;
  try {
    const res = await fetch(`${PARLEY}/v2/apps/${APP}/integrations`, { headers: { authorization: `Basic ${Buffer.from(KEY).toString('base64')}` } });
    if (!res.ok) return secrets;
    const { integrations = [] } = await res.json();
    secrets = integrations.flatMap((i) => i.webhooks ?? []).filter((w) => w.target === target).map((w) => w.secret);
  } catch {
    // Parley not reachable yet: keep what we had.
  }
  return secrets;
}

/** Standard Webhooks verification; a reason when the delivery must be refused. */
export function refusal(candidates, headers, rawBody, now = Date.now() / 1000) {
  const id = headers['webhook-id'];
  const timestamp = Number(headers['webhook-timestamp']);
  const signatures = String(headers['webhook-signature'] ?? '').split(' ').filter(Boolean);
  if (!id || !timestamp || signatures.length === 0) return 'no webhook-id, webhook-timestamp or webhook-signature header';
  if (Math.abs(now - timestamp) > TOLERANCE_S) return `webhook-timestamp is ${Math.round(now - timestamp)} s off`;
  if (candidates.length === 0) return `no secret to check with: set WEBHOOK_SECRET, or PARLEY, APP and KEY with a webhook targeting ${target}`;
  const signed = candidates.some((secret) => {
    const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret);
    const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${rawBody}`).digest();
    return signatures.some((s) => {
      const sig = Buffer.from(s.replace(/^v1,/, ''), 'base64');
      return sig.length === expected.length && timingSafeEqual(sig, expected);
    });
  });
  if (!signed) return 'webhook-signature does not match any secret of this webhook';
  if (!candidates.includes(headers['x-api-key'])) return 'X-API-Key is not a secret of this webhook';
  return undefined;
}

/** One line per event: its type, who did it and what. */
function describe(event) {
  const p = event.payload ?? {};
  const m = p.message;
  const who = m?.author ? `${m.author.type}${m.author.displayName ? ` ${m.author.displayName}` : ''}` : '';
  const what = m?.content ? (m.content.type === 'text' ? JSON.stringify(m.content.text) : `[${m.content.type}]`) : '';
  const where = p.conversation?.id ? `conversation ${p.conversation.id}${m?.seq !== undefined ? `, seq ${m.seq}` : ''}` : '';
  return `webhook ${event.type}${who ? ` from ${who}` : ''}${what ? `: ${what}` : ''}${where ? ` (${where})` : ''}`;
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    if (req.method !== 'POST' || new URL(req.url, target).pathname !== '/webhook') {
      res.writeHead(404).end();
      return;
    }
    const body = Buffer.concat(chunks).toString('utf8');
    let why = refusal(secrets, req.headers, body);
    if (why && !fixedSecrets) why = refusal(await lookUpSecrets(), req.headers, body);
    if (why) {
      console.log(`refused a delivery (401): ${why}`);
      res.writeHead(401, { 'content-type': 'text/plain' }).end(`refused: ${why}\n`);
      return;
    }
    res.writeHead(200).end();
    try {
      const { events = [] } = JSON.parse(body);
      for (const event of events) console.log(`${describe(event)}  [signature verified, webhook-id ${req.headers['webhook-id']}]`);
    } catch {
      console.log(`a verified delivery whose body is not JSON: ${body.slice(0, 200)}`);
    }
  });
});

server.on('error', (err) => {
  console.error(`The webhook receiver did not start: ${err.code === 'EADDRINUSE' ? `port ${port} on 127.0.0.1 is already in use; set WEBHOOK_RECEIVER_PORT to another` : err.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', async () => {
  await lookUpSecrets();
  console.log(`Webhook receiver listening on ${target}`);
  console.log(
    fixedSecrets
      ? `  Checking signatures with WEBHOOK_SECRET (${secrets.length} secret${secrets.length === 1 ? '' : 's'}).`
      : APP && KEY
        ? `  Checking signatures with the secret of app ${APP}'s webhook targeting it (${secrets.length ? 'found' : 'none yet: create one, see the README'}).`
        : '  Set WEBHOOK_SECRET, or PARLEY, APP and KEY (the export line npm start prints), so it can check signatures.',
  );
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
