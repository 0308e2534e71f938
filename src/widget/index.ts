/**
 * The embed entry point, bundled to /web-messenger.js: defines
 * `window.ParleyMessenger` with init, login, logout, open, close, sendMessage,
 * startConversation and on. Calls made before init has loaded the configuration wait for it.
 */
import { Emitter, type EventMap, type EventName } from './events';
import { Messenger } from './messenger';

export interface InitParams {
  appId: string;
  integrationId: string;
  /** Defaults to the origin this script was loaded from. */
  apiBase?: string;
  locale?: string;
  embedded?: boolean;
  container?: HTMLElement | string;
}

// Read while the script runs: currentScript is null once it has finished.
const scriptOrigin = (() => {
  const src = (document.currentScript as HTMLScriptElement | null)?.src;
  return src ? new URL(src).origin : location.origin;
})();

const events = new Emitter();
let started: Promise<Messenger> | undefined;

function whenStarted(): Promise<Messenger> {
  if (!started) return Promise.reject(new Error('ParleyMessenger.init() must be called first'));
  return started;
}

const ParleyMessenger = {
  init(params: InitParams): Promise<void> {
    if (!params?.appId || !params.integrationId) return Promise.reject(new Error('ParleyMessenger.init needs appId and integrationId'));
    if (!started) {
      const messenger = new Messenger({ ...params, apiBase: params.apiBase ?? scriptOrigin }, events);
      started = messenger.start().then(() => messenger);
      started.catch((err) => console.error('ParleyMessenger: could not start', err));
    }
    return started.then(() => undefined);
  },
  login: (externalId: string, jwt: string): Promise<void> => whenStarted().then((m) => m.login(externalId, jwt)),
  logout: (): Promise<void> => whenStarted().then((m) => m.logout()),
  open: (): Promise<void> => whenStarted().then((m) => m.open()),
  close: (): Promise<void> => whenStarted().then((m) => m.close()),
  sendMessage: (text: string): Promise<void> => whenStarted().then((m) => m.sendText(text)),
  /** Creates the visitor's conversation before they write, so the business can message them first. */
  startConversation: (): Promise<void> => whenStarted().then((m) => m.startConversation()),
  on: <E extends EventName>(event: E, fn: (arg: EventMap[E]) => void): (() => void) => events.on(event, fn),
};

declare global {
  interface Window {
    ParleyMessenger: typeof ParleyMessenger;
  }
}
window.ParleyMessenger = ParleyMessenger;
