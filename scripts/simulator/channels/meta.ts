/**
 * What WhatsApp and Messenger share: Meta's fake serves both, and both learn
 * Parley's callback URL the way a developer sets it up in the App Dashboard,
 * by saving it with the verify token, which makes Meta send the
 * `hub.challenge` handshake. The simulator sends that handshake too, so a
 * broken one shows up here rather than on a real account.
 */
import type { MetaFake } from '../../../test/fakes/meta';
import type { IntegrationView } from './types';

/** Parley's inbound URL for a Meta integration, after the subscription handshake succeeded. */
export async function subscribe(fake: MetaFake, integration: IntegrationView): Promise<string> {
  if (!integration.webhookUrl) throw new Error(`integration ${integration.id} has no webhookUrl`);
  if (!integration.verifyToken) throw new Error(`integration ${integration.id} has no verifyToken`);
  const challenge = String(Date.now());
  const response = await fetch(fake.handshake(integration.webhookUrl, integration.verifyToken, challenge));
  const body = await response.text();
  if (!response.ok || body !== challenge) throw new Error(`the hub.challenge handshake failed (HTTP ${response.status}: ${body.slice(0, 200)})`);
  return integration.webhookUrl;
}

/** Meta retries failed webhooks; the simulator retries a little, then tells the user. */
export const META_DELIVERY = { attempts: 3, delayMs: () => 300 };
