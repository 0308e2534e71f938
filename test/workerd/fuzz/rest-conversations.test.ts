/** Fuzz, second half of the REST routes: users, conversations, participants, messages and activities, then credentials and unrouted requests on every route (rest-suite.ts). */
import { describeRestFuzz } from './rest-suite';

describeRestFuzz((route) => /\/(users|conversations)\b/.test(route.path), { credentials: true, unrouted: true });
