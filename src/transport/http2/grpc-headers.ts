const UNITS_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
}

/**
 * Parses a grpc-timeout header ("TimeoutValue TimeoutUnit": at most 8 ASCII digits, one of
 * H M S m u n) into milliseconds. Undefined when absent; NaN when malformed (the caller answers
 * INTERNAL as the gRPC spec's HTTP/2 mapping does for an unparseable timeout).
 */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string') return Number.NaN
  if (!/^[0-9]{1,8}[HMSmun]$/.test(value)) return Number.NaN
  const unit = UNITS_MS[value.charAt(value.length - 1)] as number
  return Number.parseInt(value.slice(0, -1), 10) * unit
}

/**
 * Percent-encodes a grpc-message value as the gRPC HTTP/2 spec requires: every byte of the
 * UTF-8 form outside printable ASCII 0x20-0x7E, and '%' itself, becomes %XX.
 */
export function encodeGrpcMessage(message: string): string {
  let plain = true
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i)
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false
      break
    }
  }
  if (plain) return message
  let out = ''
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte < 0x20 || byte > 0x7e || byte === 0x25
        ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
        : String.fromCharCode(byte)
  }
  return out
}
