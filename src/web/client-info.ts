/**
 * What a `web` client's `info` says about the browser behind it: browser and
 * OS (from the User-Agent), language, the page it was opened on (as the
 * widget reports it), and the city, region and country Cloudflare attaches to
 * the request (`request.cf`), the way channel clients carry their location.
 */
import { newId } from '../ids';
import type { DeviceInfo } from '../schema/web';

/** The browser as a device: the guid the widget keeps (a widget too old to send one gets a fresh one) and its version. */
export const deviceOf = (device: DeviceInfo | undefined) => ({ guid: device?.guid ?? newId(), ...(device?.sdkVersion ? { appVersion: device.sdkVersion } : {}) });

const BROWSERS: [RegExp, string][] = [
  [/Edg(?:e|A|iOS)?\/(\d+)/, 'Edge'],
  [/OPR\/(\d+)/, 'Opera'],
  [/SamsungBrowser\/(\d+)/, 'Samsung Internet'],
  [/Firefox\/(\d+)|FxiOS\/(\d+)/, 'Firefox'],
  [/Chrome\/(\d+)|CriOS\/(\d+)/, 'Chrome'],
  [/Version\/(\d+)[\d.]* (?:Mobile\/\S+ )?Safari\//, 'Safari'],
];

const SYSTEMS: [RegExp, string][] = [
  [/iPhone|iPad|iPod/, 'iOS'],
  [/Android/, 'Android'],
  [/CrOS/, 'ChromeOS'],
  [/Windows/, 'Windows'],
  [/Mac OS X|Macintosh/, 'macOS'],
  [/Linux/, 'Linux'],
];

export function browserOf(userAgent: string): string | undefined {
  for (const [pattern, name] of BROWSERS) {
    const m = pattern.exec(userAgent);
    if (m) return `${name} ${m.slice(1).find(Boolean) ?? ''}`.trim();
  }
  return undefined;
}

export function osOf(userAgent: string): string | undefined {
  return SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1];
}

type Cf = { city?: unknown; region?: unknown; regionCode?: unknown; country?: unknown; timezone?: unknown } | undefined;

export function clientInfo(request: Request, device: DeviceInfo | undefined): Record<string, string> {
  const userAgent = request.headers.get('user-agent') ?? '';
  const cf = (request as Request & { cf?: Cf }).cf;
  const text = (x: unknown) => (typeof x === 'string' && x.length > 0 ? x : undefined);
  const language = device?.browserLanguage ?? request.headers.get('accept-language')?.split(',')[0]?.split(';')[0]?.trim();
  const entries: [string, string | undefined][] = [
    ['browser', browserOf(userAgent)],
    ['os', osOf(userAgent)],
    ['browserLanguage', language || undefined],
    ['currentUrl', device?.currentUrl],
    ['currentTitle', device?.currentTitle],
    ['referrer', device?.referrer],
    ['sdkVersion', device?.sdkVersion],
    ['timezone', device?.timezone ?? text(cf?.timezone)],
    ['city', text(cf?.city)],
    ['region', text(cf?.region)],
    ['country', text(cf?.country)],
    ['userAgent', userAgent.slice(0, 512) || undefined],
  ];
  return Object.fromEntries(entries.filter((e): e is [string, string] => e[1] !== undefined));
}
