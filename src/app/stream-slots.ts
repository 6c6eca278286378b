/**
 * Undecided streams are bounded: over the limit a stream is answered 503 overloaded at once and
 * takes no slot, so refusals cannot keep the count over the limit (goodput collapsed to 0.25% at
 * 4x overload when they did). A slot is held from admission to the first answer.
 */
export class StreamSlots {
  /** Streams holding a slot now. */
  active = 0
  /** Streams started since start, admitted or not. */
  started = 0

  /** Read on every stream start, so a reload that changes limits.max_streams applies at once. */
  constructor(public maxStreams: number) {}

  /** Takes a slot for a new stream; false when none is free (the stream is refused). */
  readonly onStreamStart = (): boolean => {
    this.started++
    if (this.active >= this.maxStreams) return false
    this.active++
    return true
  }

  readonly onStreamEnd = (): void => {
    this.active--
  }
}
