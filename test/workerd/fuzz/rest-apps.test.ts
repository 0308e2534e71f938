/** Fuzz, first half of the REST routes: health, hooks, media, apps, keys, integrations and their keys and webhooks (rest-suite.ts). */
import { describeRestFuzz } from './rest-suite';

describeRestFuzz((route) => !/\/(users|conversations)\b/.test(route.path));
