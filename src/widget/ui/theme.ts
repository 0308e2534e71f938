/**
 * Turns the integration's colors (6 hex digits, no '#') into CSS custom
 * properties, with a readable text color picked for each background so a pale
 * brand color doesn't get white text.
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
  const channel = (i: number) => {
    const c = parseInt(color.slice(1 + i * 2, 3 + i * 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const l = 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
  return 1.05 / (l + 0.05) >= 4.5 ? '#ffffff' : '#111827';
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
  };
}
