/**
 * `GET /v2/apps/{appId}/stats?since=&until=&interval=hour|day` (a Parley
 * extension): an app's activity per bucket, oldest first, every bucket of the
 * range present (zeros included). `since` rounds down and `until` up to the
 * interval; defaults: interval day, until now, since 7 days (day) or 24 hours
 * (hour) before until. At most 31 days hourly and 366 days daily. App,
 * account and integration keys may read it (their app's figures only).
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { badRequest } from '../http/errors';
import { readQuery } from '../http/request';
import { appStats, bucketStarts } from '../db/insights-stats';
import { STATS_INTERVALS, statsQuery } from '../schema/insights';
import { appContext, json } from './context';

const DEFAULT_SPAN_MS = { hour: 24 * 3_600_000, day: 7 * 86_400_000 };

export async function get(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const q = readQuery(request, statsQuery);
  const interval = q.interval ?? 'day';
  const until = q.until ?? new Date().toISOString();
  const since = q.since ?? new Date(Date.parse(until) - DEFAULT_SPAN_MS[interval]).toISOString();
  if (until <= since) throw badRequest('since: must be before until (until defaults to now)');
  const starts = bucketStarts(since, until, interval);
  const { maxBuckets } = STATS_INTERVALS[interval];
  if (starts.length > maxBuckets) {
    throw badRequest(`since: the range may span at most ${maxBuckets} ${interval === 'hour' ? 'hours (31 days) with interval=hour' : 'days with interval=day'}`);
  }
  return json({ stats: await appStats(env.DB, appId, starts, interval) });
}
