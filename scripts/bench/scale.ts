/**
 * The scale model's arithmetic, pure: from operations per message (a
 * `Profile`) and a deployment's shape (how many conversations, apps, queue
 * shards and D1 databases share the load), the load on the busiest instance of
 * each resource, the message rate at which it reaches its published limit, and
 * how many shards would keep it under a ceiling. `model.ts` reads the bench's
 * JSON and prints; this file only computes, so test/node/bench-model.test.ts
 * can check it on hand-made inputs.
 *
 * The model spreads load evenly: each per-conversation object takes 1/N of
 * the messages, each queue shard 1/Q, each D1 database 1/S. Real traffic is
 * skewed, so the busiest conversation is shown on its own (`hotCases`).
 */

/** Who owns a Durable Object, which decides how many of them share the load. */
export type Role = 'conversation' | 'user' | 'identity' | 'app' | 'global';
export const ROLES: readonly Role[] = ['conversation', 'user', 'identity', 'app', 'global'];

export interface Profile {
  /** Where the figures come from (a bench run, or the built-in fallback). */
  source: string;
  /** Durable Object requests per message, by the role of the object they reach. */
  doRequests: Record<Role, number>;
  /** Messages written per message, by queue kind (`parley-index`, …). */
  queueMessages: Record<string, number>;
  /** D1 statements per message: reads (SELECT) and the rest. */
  d1Reads: number;
  d1Writes: number;
  /** Runtime CPU per message, ms: all of the local runtime's CPU, an upper bound of billed Worker CPU (NaN if unknown). */
  cpuMs: number;
}

export interface Deployment {
  /** Conversations receiving messages, evenly. */
  conversations: number;
  /** Users behind them (each user object; identity objects are as many). */
  users: number;
  /** Apps (tenants); 1 is one customer taking all the traffic, the worst case for anything per app. */
  apps: number;
  /** Queues of each kind, messages spread over them by conversation. */
  queueShards: number;
  /** D1 databases the queries are spread over. */
  d1Shards: number;
  /** Average D1 query duration, ms: one database runs 1,000 ÷ this queries a second. */
  d1QueryMs: number;
}

export interface Limits {
  doRequestsPerObject: number;
  queueMessagesPerQueue: number;
  /** At `d1QueryMsAtLimit` ms per query. */
  d1QueriesPerDatabase: number;
  d1QueryMsAtLimit: number;
}

export interface Resource {
  id: string;
  name: string;
  kind: 'object' | 'queue' | 'database';
  /** How many instances share the load evenly. */
  instances: number;
  /** Units (requests, messages, queries) per message, over all instances. */
  perMessage: number;
  unit: string;
  /** Units per second one instance can take. */
  limit: number;
  /** What raises the ceiling. */
  lever: string;
  /** Whether more instances can simply be added (queues, databases, per-app objects) or are fixed by the data (one object per conversation). */
  shardable: boolean;
}

export const LEVERS: Record<Role | 'queue' | 'database', string> = {
  conversation: 'more conversations: each is its own object and its own ordered stream; one conversation cannot be split',
  user: "more users: each user's object takes only their own first contacts and events",
  identity: 'identity objects sharded by integration and channel user scale with the users',
  app: 'shard it (by conversation or channel user) or take it off the message path: one object per app caps each app',
  global: 'shard it or take it off the message path: one object for the deployment caps the deployment',
  queue: 'sharded queues: several queues of this kind, a conversation always on the same one (order is per conversation)',
  database: 'per-app or per-shard D1 (a conversation always in the same database), fewer statements per message, reads from an isolate cache',
};

/** How many objects of a role share the messages. */
export function instancesOf(role: Role, d: Deployment): number {
  switch (role) {
    case 'conversation':
      return d.conversations;
    case 'user':
    case 'identity':
      return d.users;
    case 'app':
      return d.apps;
    case 'global':
      return 1;
  }
}

const ROLE_NAMES: Record<Role, string> = {
  conversation: 'conversation object (each)',
  user: 'user object (each)',
  identity: 'identity object (each)',
  app: 'per-app object',
  global: 'deployment-wide object',
};

/** The resources a profile uses in a deployment, with their published limits. */
export function resources(p: Profile, d: Deployment, limits: Limits): Resource[] {
  const out: Resource[] = [];
  for (const role of ROLES) {
    const per = p.doRequests[role] ?? 0;
    if (!(per > 0)) continue;
    out.push({
      id: `do:${role}`,
      name: ROLE_NAMES[role],
      kind: 'object',
      instances: instancesOf(role, d),
      perMessage: per,
      unit: 'requests',
      limit: limits.doRequestsPerObject,
      lever: LEVERS[role],
      shardable: role === 'app' || role === 'global',
    });
  }
  for (const [queue, per] of Object.entries(p.queueMessages)) {
    if (!(per > 0)) continue;
    out.push({
      id: `queue:${queue}`,
      name: d.queueShards === 1 ? `queue ${queue}` : `queue ${queue} (each of ${d.queueShards})`,
      kind: 'queue',
      instances: d.queueShards,
      perMessage: per,
      unit: 'messages',
      limit: limits.queueMessagesPerQueue,
      lever: LEVERS.queue,
      shardable: true,
    });
  }
  const d1 = p.d1Reads + p.d1Writes;
  if (d1 > 0) {
    out.push({
      id: 'd1',
      name: d.d1Shards === 1 ? 'D1 database (the only one)' : `D1 database (each of ${d.d1Shards})`,
      kind: 'database',
      instances: d.d1Shards,
      perMessage: d1,
      unit: 'queries',
      limit: (limits.d1QueriesPerDatabase * limits.d1QueryMsAtLimit) / d.d1QueryMs,
      lever: LEVERS.database,
      shardable: true,
    });
  }
  return out;
}

/** Messages per second at which the busiest instance reaches its limit. */
export const saturationRate = (r: Resource): number => (r.limit * r.instances) / r.perMessage;

/** Share of its limit the busiest instance uses at `rate` messages per second. */
export const utilisation = (r: Resource, rate: number): number => (rate * r.perMessage) / r.instances / r.limit;

/** Instances needed for the busiest one to stay at or under `ceiling` of its limit at `rate`. */
export const instancesNeeded = (r: Resource, rate: number, ceiling = 0.5): number => Math.max(1, Math.ceil((rate * r.perMessage) / (ceiling * r.limit)));

/** Resources, the first to reach its limit first. */
export const bySaturation = (list: Resource[]): Resource[] => [...list].sort((a, b) => saturationRate(a) - saturationRate(b));

/** `returning` and `first` mixed: `firstShare` of messages are first contacts. */
export function blend(returning: Profile, first: Profile, firstShare: number): Profile {
  const mix = (a: number, b: number) => (1 - firstShare) * a + firstShare * b;
  const queues = new Set([...Object.keys(returning.queueMessages), ...Object.keys(first.queueMessages)]);
  return {
    source: `${Math.round((1 - firstShare) * 100)}% returning users, ${Math.round(firstShare * 100)}% first contacts`,
    doRequests: Object.fromEntries(ROLES.map((r) => [r, mix(returning.doRequests[r] ?? 0, first.doRequests[r] ?? 0)])) as Record<Role, number>,
    queueMessages: Object.fromEntries([...queues].map((q) => [q, mix(returning.queueMessages[q] ?? 0, first.queueMessages[q] ?? 0)])),
    d1Reads: mix(returning.d1Reads, first.d1Reads),
    d1Writes: mix(returning.d1Writes, first.d1Writes),
    cpuMs: mix(returning.cpuMs, first.cpuMs),
  };
}

/**
 * Which object role a stub call (`BINDING.method`, as the bench counts them)
 * reaches. ConversationDO plays two roles today: a user's object answers
 * `claimDefaultConversation` and `raiseUserEvent`. Unknown calls are reported
 * and counted as per-conversation.
 */
export const ROLE_RULES: { match: RegExp; role: Role }[] = [
  { match: /^CONVERSATIONS\.(claimDefaultConversation|raiseUserEvent)$/, role: 'user' },
  { match: /^CONVERSATIONS\./, role: 'conversation' },
  { match: /^USERS?\./, role: 'user' },
  { match: /^IDENTIT(Y|IES)\./, role: 'identity' },
  { match: /^APPS?\./, role: 'app' },
];

export function roleOf(call: string): Role | undefined {
  return ROLE_RULES.find((r) => r.match.test(call))?.role;
}

/** The figures one bench scenario carries in `.parley/bench/*.json` that the model reads. */
export interface ScenarioFigures {
  messages: number;
  perMessage: { doRequests: number; d1Queries: number; queueOperations: number; workerdCpuMs: number | null };
  operations?: {
    doCalls?: Record<string, number>;
    doAlarms?: number;
    queueMessages?: Record<string, number>;
    statements?: Record<string, [number, number, number]>;
  };
}

/** A scenario's figures as a profile; `unmapped` lists stub calls no rule knows (counted as per-conversation). */
export function profileOf(source: string, s: ScenarioFigures): { profile: Profile; unmapped: string[] } {
  const per = (n: number) => (s.messages > 0 ? n / s.messages : 0);
  const doRequests = Object.fromEntries(ROLES.map((r) => [r, 0])) as Record<Role, number>;
  const unmapped: string[] = [];
  const calls = s.operations?.doCalls;
  if (calls && Object.keys(calls).length > 0) {
    for (const [call, n] of Object.entries(calls)) {
      const role = roleOf(call);
      if (!role) unmapped.push(call);
      doRequests[role ?? 'conversation'] += per(n);
    }
    // Alarms are requests the runtime makes to the object that set them: the conversation's outbox.
    doRequests.conversation += per(s.operations?.doAlarms ?? 0);
  } else {
    doRequests.conversation = s.perMessage.doRequests;
  }
  const queueMessages = Object.fromEntries(Object.entries(s.operations?.queueMessages ?? {}).map(([q, n]) => [q, per(n)]));
  // Without a split by queue, each queue message is three operations (write, read, delete).
  if (Object.keys(queueMessages).length === 0 && s.perMessage.queueOperations > 0) queueMessages['(all queues)'] = s.perMessage.queueOperations / 3;
  const statements = Object.entries(s.operations?.statements ?? {}).filter(([q]) => q.startsWith('D1 '));
  const reads = statements.filter(([q]) => /^D1\s+(SELECT|WITH)\b/i.test(q)).reduce((sum, [, [c]]) => sum + per(c), 0);
  const all = statements.length > 0 ? statements.reduce((sum, [, [c]]) => sum + per(c), 0) : s.perMessage.d1Queries;
  return {
    profile: { source, doRequests, queueMessages, d1Reads: reads, d1Writes: Math.max(0, all - reads), cpuMs: s.perMessage.workerdCpuMs ?? NaN },
    unmapped,
  };
}

/** Ceilings no sharding of queues or databases moves: one object takes at most its limit. */
export function hotCases(p: Profile, limits: Limits): { conversationByRequests: number; conversationByCpu: number; perAppObject: number; globalObject: number } {
  return {
    // One conversation is one object: its messages cannot be spread.
    conversationByRequests: limits.doRequestsPerObject / Math.max(p.doRequests.conversation, 1e-9),
    // Upper bound of CPU per message, as if all of it ran in the conversation's object (it does not).
    conversationByCpu: Number.isFinite(p.cpuMs) && p.cpuMs > 0 ? 1000 / p.cpuMs : NaN,
    // An object per app (or for the whole deployment) taking one request per message.
    perAppObject: limits.doRequestsPerObject,
    globalObject: limits.doRequestsPerObject,
  };
}
