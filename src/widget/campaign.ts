/**
 * Proactive web campaigns (a Parley extension, like Zendesk's proactive
 * messages): a business message the widget shows a visitor who has no
 * session yet, fetched for the page's URL. Showing it creates nothing on the
 * server; the visitor answering it starts the session with its campaignId,
 * and the server opens the conversation with the campaign's message as seq 1,
 * which then takes the preview's place in the timeline.
 *
 * The rules are pure and unit tested in Node: which campaign (the first this
 * browser may still see), the memory of those shown `oncePerVisitor` (in
 * localStorage, per app + integration), the delay, and the preview entry.
 * `CampaignPreview` runs them for one page load.
 */
import type { Entry } from './timeline';
import type { Campaign } from './types';

/** A delay the server sends beyond this is a mistake, not a plan: one hour. */
const MAX_DELAY_SECONDS = 3600;
/** The ids remembered per browser; the oldest are forgotten first. */
const REMEMBERED = 200;

type Storage = Pick<globalThis.Storage, 'getItem' | 'setItem'>;

/** The campaigns this browser was shown, by id: an `oncePerVisitor` one is not shown again. Storage that throws means no memory. */
export class CampaignMemory {
  private readonly key: string;

  constructor(
    appId: string,
    integrationId: string,
    private readonly storage: Storage | undefined,
  ) {
    this.key = `parley:campaigns:${appId}:${integrationId}`;
  }

  shown(): Set<string> {
    try {
      const ids: unknown = JSON.parse(this.storage?.getItem(this.key) ?? '[]');
      return new Set(Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : []);
    } catch {
      return new Set();
    }
  }

  remember(campaignId: string): void {
    const ids = [...this.shown()].filter((id) => id !== campaignId);
    ids.push(campaignId);
    try {
      this.storage?.setItem(this.key, JSON.stringify(ids.slice(-REMEMBERED)));
    } catch {
      // Quota or disabled storage: a oncePerVisitor campaign may show again, nothing worse.
    }
  }
}

/** Only what the widget can show: an id and a content with a type. */
export function usable(campaign: unknown): campaign is Campaign {
  const c = campaign as Partial<Campaign> | null;
  return !!c && typeof c.id === 'string' && !!c.id && typeof c.message?.content?.type === 'string';
}

/** The first campaign this browser may see now: an `everyPageLoad` one always, an `oncePerVisitor` one (the default) until it was shown. */
export function pickCampaign(campaigns: readonly unknown[], shown: ReadonlySet<string>): Campaign | undefined {
  return campaigns.filter(usable).find((c) => c.frequency === 'everyPageLoad' || !shown.has(c.id));
}

/** How long after the page loaded the campaign shows, in ms: delaySeconds, within 0 .. 1 hour. */
export function campaignDelayMs(campaign: Pick<Campaign, 'delaySeconds'>): number {
  const s = Number(campaign.delaySeconds ?? 0);
  return Number.isFinite(s) ? Math.round(Math.min(Math.max(s, 0), MAX_DELAY_SECONDS) * 1000) : 0;
}

/** The campaign's message as a business bubble of the timeline, until the server's stored copy replaces it. */
export function previewEntry(campaign: Campaign, now: Date): Entry {
  const { author = {}, content } = campaign.message;
  const id = `campaign:${campaign.id}`;
  return {
    key: id,
    status: 'sent',
    campaignId: campaign.id,
    message: {
      id,
      received: now.toISOString(),
      author: { type: 'business', ...(author.displayName ? { displayName: author.displayName } : {}), ...(author.avatarUrl ? { avatarUrl: author.avatarUrl } : {}) },
      content,
    },
  };
}

export interface CampaignHooks {
  /** The campaigns for this page; a failure just means none. */
  fetch(): Promise<unknown[]>;
  memory: CampaignMemory;
  /** Puts the preview in the timeline (and counts it on the badge while the widget is closed). */
  show(entry: Entry): void;
  /** Whether the visitor sees the conversation right now. */
  visible(): boolean;
}

/** One page load's campaign: fetched, picked, shown after its delay, then answered or left. */
export class CampaignPreview {
  private shown: Campaign | undefined;
  private unseen = false;
  private over = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly hooks: CampaignHooks) {}

  /** Call only for a visitor without a session. Never rejects. */
  async begin(): Promise<void> {
    let campaigns: unknown[];
    try {
      campaigns = await this.hooks.fetch();
    } catch {
      return;
    }
    const campaign = Array.isArray(campaigns) ? pickCampaign(campaigns, this.hooks.memory.shown()) : undefined;
    if (!campaign || this.over) return;
    this.timer = setTimeout(() => this.display(campaign), campaignDelayMs(campaign));
  }

  private display(campaign: Campaign): void {
    if (this.over) return;
    this.shown = campaign;
    this.unseen = !this.hooks.visible();
    this.hooks.memory.remember(campaign.id);
    this.hooks.show(previewEntry(campaign, new Date()));
  }

  /** The launcher badge's count for the preview: 1 until the visitor saw it. */
  unread(): number {
    return this.shown && this.unseen ? 1 : 0;
  }

  seen(): void {
    this.unseen = false;
  }

  /**
   * A session is being created: the campaign on screen, if any, is what the
   * visitor answers (its id goes with the session); one not shown yet never
   * will be. Asked again if that creation failed and is retried.
   */
  answer(): string | undefined {
    this.over = true;
    clearTimeout(this.timer);
    return this.shown?.id;
  }

  /** A session exists (created or logged in): the preview is the server's business now. */
  end(): void {
    this.answer();
    this.shown = undefined;
    this.unseen = false;
  }
}
