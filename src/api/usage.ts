/**
 * Usage (Parley extensions): `GET /v2/apps/{appId}/usage?month=YYYY-MM` with
 * an app or account key, and `GET /v2/usage?month=` with the account key (every
 * app, with totals). Monthly active users (the unit Sunshine bills), messages in
 * and out per channel, channel deliveries, notifications, webhook attempts,
 * media put into R2, and the estimated Cloudflare cost (src/db/insights-cost.ts).
 * `month` defaults to the current UTC month. Integration keys are refused: the
 * bill is the app owner's business.
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { authenticate, requireAccount, requireAppOrAccount } from '../auth/authenticate';
import { readQuery } from '../http/request';
import { estimateCost } from '../db/insights-cost';
import { monthUsage, type Usage } from '../db/insights-usage';
import { usageQuery } from '../schema/insights';
import { appContext, json } from './context';

const thisMonth = () => new Date().toISOString().slice(0, 7);

export async function app(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  const month = readQuery(request, usageQuery).month ?? thisMonth();
  const [usage] = await monthUsage(env.DB, month, appId);
  return json({ usage });
}

export async function account(request: IRequest, env: Env) {
  requireAccount(await authenticate(request, env));
  const month = readQuery(request, usageQuery).month ?? thisMonth();
  const apps = await monthUsage(env.DB, month);
  return json({ usage: { month, ...totals(apps), apps } });
}

/** Sums across apps; monthly active users add up because a user belongs to one app. */
function totals(apps: Usage[]) {
  const sum = (f: (u: Usage) => number) => apps.reduce((n, u) => n + f(u), 0);
  const counts = {
    message: sum((u) => u.messages.inbound + u.messages.outbound),
    delivery: sum((u) => u.deliveries.sent + u.deliveries.failed),
    notification: sum((u) => u.notifications),
    webhookAttempt: sum((u) => u.webhookAttempts.total),
    mediaObject: sum((u) => u.media.objects),
  };
  return {
    monthlyActiveUsers: sum((u) => u.monthlyActiveUsers),
    messages: { inbound: sum((u) => u.messages.inbound), outbound: sum((u) => u.messages.outbound) },
    deliveries: { sent: sum((u) => u.deliveries.sent), failed: sum((u) => u.deliveries.failed) },
    notifications: counts.notification,
    webhookAttempts: counts.webhookAttempt,
    media: { objects: counts.mediaObject, bytes: sum((u) => u.media.bytes) },
    estimatedCost: estimateCost(counts),
  };
}
