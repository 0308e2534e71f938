/**
 * Turns the integration's colors (6 hex digits, no '#') into CSS custom
 * properties, with a readable text color picked for each background so a pale
 * brand color doesn't get white text, and the action color darkened where it
 * is text on white (quick replies, buttons) until it reads.
 */
const HEX = /^[0-9a-f]{6}$/i;

export function cssColor(hex: string | undefined, fallback: string): string {
  const v = (hex ?? '').replace(/^#/, '');
  return HEX.test(v) ? `#${v}` : fallback;
}

/**
 * White text while it keeps WCAG AA's 4.5:1 for normal text (message bubbles
 * and buttons carry body-size text), else near-black, which every color too
 * light for white clears.
 */
export function readableOn(color: string): '#ffffff' | '#111827' {
  return 1.05 / (luminance(color) + 0.05) >= 4.5 ? '#ffffff' : '#111827';
}

/** `color` as text on white: itself when it keeps 4.5:1 there, else the same hue darkened just enough (#0099ff, 3.0:1, becomes #007acb, 4.5:1). */
export function legibleOnWhite(color: string): string {
  const rgb = [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16));
  for (let k = 1; k > 0; k -= 0.01) {
    const hex = `#${rgb.map((c) => Math.floor(c * k).toString(16).padStart(2, '0')).join('')}`;
    if (1.05 / (luminance(hex) + 0.05) >= 4.5) return hex;
  }
  return '#000000';
}

/** WCAG's relative luminance of a #rrggbb color. */
function luminance(color: string): number {
  const channel = (i: number) => {
    const c = parseInt(color.slice(1 + i * 2, 3 + i * 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
}

export function themeVariables(config: { brandColor?: string; conversationColor?: string; actionColor?: string }): Record<string, string> {
  const brand = cssColor(config.brandColor, '#65758e');
  const conversation = cssColor(config.conversationColor, '#0099ff');
  const action = cssColor(config.actionColor, '#0099ff');
  return {
    '--p-brand': brand,
    '--p-on-brand': readableOn(brand),
    '--p-conv': conversation,
    '--p-on-conv': readableOn(conversation),
    '--p-action': action,
    '--p-on-action': readableOn(action),
    '--p-action-text': legibleOnWhite(action),
  };
}
