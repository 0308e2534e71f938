/**
 * Notifications: `POST /v1.1/apps/{appId}/notifications` (the route code
 * written for Sunshine calls) and Parley's `POST /v2/apps/{appId}/notifications`
 * send a business's first message to a channel-native destination (an E.164
 * number on Twilio or WhatsApp, a Telegram chat id). The user, client and
 * personal conversation are found, or created with `creationReason:
 * "notification"`; the message is delivered like any business message (its
 * delivery events follow) and the user's reply carries it in
 * `recentNotifications`. An `Idempotency-Key` header makes a retried call
 * answer the same notification without sending again.
 */
import type { IRequest } from 'itty-router';
import * as v from 'valibot';
import type { Env } from '../env';
import { cachedPolicy } from '../db/app-policy';
import { maskContent } from '../content/card-numbers';
import { resolveIdentity } from '../channels/identity';
import { channelIntegration } from '../channels/store';
import { badRequest, conflict, unwrap } from '../http/errors';
import { readBody } from '../http/request';
import { newId } from '../ids';
import { describeIssue } from '../schema/common';
import { idempotencyKey, notificationBody } from '../schema/notification';
import { withTextFallback } from '../channels/text-fallback';
import { appContext, conversationStub, json } from './context';

type Row = { id: string; integration_id: string; destination_id: string; conversation_id: string };

export async function send(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const rawKey = request.headers.get('idempotency-key');
  const key = rawKey === null ? undefined : v.safeParse(idempotencyKey, rawKey);
  if (key && !key.success) throw badRequest(describeIssue(key.issues[0]));
  const body = await readBody(request, notificationBody);
  const integration = await channelIntegration(env, body.destination.integrationId);
  if (!integration || integration.appId !== appId) throw badRequest('destination.integrationId: the app has no channel integration with that id');
  if (!integration.adapter.notificationRecipient) throw badRequest(`destination.integrationId: ${integration.type} cannot message someone who has not written first; use a channel that can (an SMS, WhatsApp, email, Telegram or LINE integration)`);
  const recipient = integration.adapter.notificationRecipient(body.destination.destinationId);
  if (typeof recipient === 'string') throw badRequest(`destination.destinationId: ${recipient}`);

  // A retried call with the same key: the same notification, sent once (the conversation's object dedupes on its id).
  let notificationId = newId();
  if (key?.output) {
    const claimed = await env.DB.prepare(
      `INSERT INTO notifications (id, app_id, idempotency_key, integration_id, destination_id, conversation_id, user_id, created_at)
       VALUES (?, ?, ?, ?, ?, '', '', ?) ON CONFLICT(app_id, idempotency_key) DO NOTHING`,
    )
      .bind(notificationId, appId, key.output, integration.id, body.destination.destinationId, new Date().toISOString())
      .run();
    if (claimed.meta.changes === 0) {
      const row = await env.DB.prepare('SELECT id, integration_id, destination_id, conversation_id FROM notifications WHERE app_id = ? AND idempotency_key = ?').bind(appId, key.output).first<Row>();
      if (!row) throw conflict('Idempotency-Key: a call with this key is being processed; retry it');
      if (row.integration_id !== integration.id || row.destination_id !== body.destination.destinationId) throw conflict('Idempotency-Key: already used for a notification to another destination');
      // A call that completed: nothing to send again, whatever happened to its conversation since.
      if (row.conversation_id) return json({ notification: { _id: row.id } }, 201);
      notificationId = row.id;
    }
  }

  const identity = await resolveIdentity(env, integration, recipient, 'notification');
  const { settings } = await cachedPolicy(env, appId);
  const a = body.author;
  const displayName = a?.displayName ?? a?.name;
  const message = withTextFallback(body.message ?? body.content!);
  unwrap(
    await conversationStub(env, appId, identity.conversationId).notify(identity.client, notificationId, {
      author: { type: 'business', ...(displayName ? { displayName } : {}), ...(a?.avatarUrl ? { avatarUrl: a.avatarUrl } : {}) },
      content: settings.maskCreditCardNumbers ? maskContent(message) : message,
      ...(body.metadata ? { metadata: body.metadata } : {}),
    }),
  );
  if (key?.output) {
    await env.DB.prepare('UPDATE notifications SET conversation_id = ?, user_id = ? WHERE id = ?').bind(identity.conversationId, identity.client.userId, notificationId).run();
  } else {
    await env.DB.prepare(
      `INSERT INTO notifications (id, app_id, idempotency_key, integration_id, destination_id, conversation_id, user_id, created_at) VALUES (?, ?, NULL, ?, ?, ?, ?, ?)`,
    )
      .bind(notificationId, appId, integration.id, body.destination.destinationId, identity.conversationId, identity.client.userId, new Date().toISOString())
      .run();
  }
  return json({ notification: { _id: notificationId } }, 201);
}
