/**
 * The Web Messenger as a test sees it in a page: locators for its parts
 * (they pierce the widget's open shadow root) and a watch over its message
 * log that remembers any moment two rows shared a seq or stood out of order,
 * so a duplicate that shows and then vanishes is caught too.
 */
import type { Locator, Page } from 'playwright-core';

declare global {
  interface Window {
    /** Every state of the log whose seqs were not strictly increasing, as the watch saw it. */
    __parleyLogFaults?: string[];
  }
}

export class Widget {
  readonly launcher: Locator;
  readonly badge: Locator;
  readonly panel: Locator;
  readonly log: Locator;
  readonly messages: Locator;
  readonly composer: Locator;
  readonly sendButton: Locator;
  readonly carousel: Locator;
  readonly reconnecting: Locator;

  constructor(readonly page: Page) {
    this.launcher = page.getByTestId('launcher');
    this.badge = this.launcher.locator('.badge');
    this.panel = page.getByTestId('panel');
    this.log = page.getByTestId('log');
    this.messages = this.log.getByTestId('message');
    this.composer = page.getByTestId('composer-input');
    this.sendButton = page.getByTestId('send-button');
    this.carousel = this.log.getByTestId('carousel');
    this.reconnecting = this.panel.getByRole('status').filter({ hasText: 'Reconnecting' });
  }

  /** Rows whose text contains `text`. */
  message(text: string): Locator {
    return this.messages.filter({ hasText: text });
  }

  /** The seq of every stored message in the log, top to bottom (rows still sending have none). */
  seqs(): Promise<number[]> {
    return this.messages.evaluateAll((rows) => rows.filter((r) => r.hasAttribute('data-seq')).map((r) => Number(r.getAttribute('data-seq'))));
  }

  async watchOrder(): Promise<void> {
    await this.log.evaluate((log) => {
      window.__parleyLogFaults = [];
      const check = () => {
        const seqs = [...log.querySelectorAll('[data-testid="message"][data-seq]')].map((r) => Number(r.getAttribute('data-seq')));
        if (seqs.some((s, i) => i > 0 && s <= seqs[i - 1]!)) window.__parleyLogFaults!.push(seqs.join(','));
      };
      check();
      new MutationObserver(check).observe(log, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-seq'] });
    });
  }

  orderFaults(): Promise<string[]> {
    return this.page.evaluate(() => window.__parleyLogFaults ?? ['the order watch was never installed']);
  }
}
