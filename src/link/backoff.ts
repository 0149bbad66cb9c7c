/** The link's reconnect backoff is the shared full-jitter curve (src/util/backoff.ts). */
export { type BackoffPolicy, fullJitterDelay } from '../util/backoff.js';
