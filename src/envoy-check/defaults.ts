// Kept apart so `check-envoy --help` states it without loading the checker.

/** 500 ms: an uncached RSA-4096 decryption (~6 ms/core) queued behind others, plus GC pauses. */
export const DEFAULT_MIN_MESSAGE_TIMEOUT_MS = 500
