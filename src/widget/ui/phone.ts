/**
 * The open widget on a phone (a viewport at most 480 px wide): the panel
 * fills the screen (the stylesheet's small-screen rules), the page behind
 * stops scrolling, and the panel follows the visual viewport, the part of the
 * page really on screen. That viewport is what shrinks when the on-screen
 * keyboard opens (iOS Safari, Chrome since 108), so the composer stays above
 * the keyboard; and it is what a phone shows of a host page that is wider
 * than the screen, where `position: fixed` alone would size the panel to the
 * page and put its close button and input off-screen.
 */

export const PHONE_QUERY = '(max-width: 480px)';

export class PhoneFit {
  private readonly media = matchMedia(PHONE_QUERY);
  private active = false;
  /** The root element's own inline overflow, put back on close. */
  private saved: string | undefined;
  private readonly apply = () => this.fit();

  constructor(private readonly panel: HTMLElement) {}

  /** The panel opened (true) or closed. */
  set(open: boolean): void {
    if (open === this.active) return;
    this.active = open;
    const targets: [EventTarget | null | undefined, string][] = [
      [this.media, 'change'],
      [window.visualViewport, 'resize'],
      [window.visualViewport, 'scroll'],
    ];
    for (const [target, type] of targets) {
      if (open) target?.addEventListener(type, this.apply);
      else target?.removeEventListener(type, this.apply);
    }
    this.fit();
  }

  private fit(): void {
    const phone = this.active && this.media.matches;
    const vv = window.visualViewport;
    const style = this.panel.style;
    if (phone && vv) {
      style.top = `${vv.offsetTop}px`;
      style.left = `${vv.offsetLeft}px`;
      style.width = `${vv.width}px`;
      style.height = `${vv.height}px`;
    } else {
      style.top = style.left = style.width = style.height = '';
    }
    this.lockPage(phone);
  }

  /**
   * The page behind a full-screen panel must not scroll under the user's
   * finger. The root element's overflow is the viewport's, and `clip` there
   * reads as `hidden` (CSS Overflow 3) without making the root a clipping
   * box of its own height: a short page's root would otherwise "clip" the
   * fixed panel for tools that walk overflow-hidden ancestors (axe-core then
   * skips the messages). The body is left alone for the same reason.
   */
  private lockPage(lock: boolean): void {
    const html = document.documentElement.style;
    if (lock && this.saved === undefined) {
      this.saved = html.overflow;
      html.overflow = 'clip';
    } else if (!lock && this.saved !== undefined) {
      html.overflow = this.saved;
      this.saved = undefined;
    }
  }
}
