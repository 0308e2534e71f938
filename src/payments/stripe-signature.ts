/**
 * Verifies Stripe's `Stripe-Signature` header the way Stripe's own libraries
 * do (stripe-node `Webhooks.constructEvent`): the header is `t=<unix
 * seconds>,v1=<hex>[,v1=<hex>…]` (several v1 values while a rolled secret is
 * still valid; `v0` and other schemes are ignored); each v1 is the hex
 * HMAC-SHA256 of `${t}.${rawBody}` keyed with the whole `whsec_…` secret; one
 * match is enough; a timestamp more than 300 s away is refused. The reasons
 * are stripe-node's messages, so a developer who knows them recognises them.
 */
import { hmacHex, safeEqual } from '../channels/signing';

export const STRIPE_TOLERANCE_S = 300;

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

export async function verifyStripeSignature(rawBody: string, header: string | null, secret: string, nowS = Math.floor(Date.now() / 1000)): Promise<SignatureCheck> {
  if (!rawBody) return { ok: false, reason: 'No webhook payload was provided.' };
  if (!header) return { ok: false, reason: 'No stripe-signature header value was provided.' };
  let timestamp = -1;
  const signatures: string[] = [];
  for (const item of header.split(',')) {
    const at = item.indexOf('=');
    if (at < 0) continue;
    const key = item.slice(0, at).trim();
    const value = item.slice(at + 1).trim();
    if (key === 't') timestamp = /^\d{1,12}$/.test(value) ? Number(value) : -1;
    else if (key === 'v1') signatures.push(value);
  }
  if (timestamp === -1) return { ok: false, reason: 'Unable to extract timestamp and signatures from header' };
  if (signatures.length === 0) return { ok: false, reason: 'No signatures found with expected scheme' };
  const expected = await hmacHex('SHA-256', secret, `${timestamp}.${rawBody}`);
  if (!signatures.some((s) => safeEqual(s, expected))) return { ok: false, reason: 'No signatures found matching the expected signature for payload' };
  // stripe-node refuses only old timestamps; one far in the future is no more trustworthy, so both are refused here.
  if (Math.abs(nowS - timestamp) > STRIPE_TOLERANCE_S) return { ok: false, reason: 'Timestamp outside the tolerance zone' };
  return { ok: true };
}
