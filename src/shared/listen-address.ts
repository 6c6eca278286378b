// The one parser of `host:port` listen addresses (`listen`, `admin.listen`, `serve --listen`).

const MAX_PORT = 65_535
/** Decimal 0 to 65535, written as a pattern so the published JSON Schema says it too. */
const PORT = '([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])'
/** `host:port`, `[v6]:port`; host an IP literal or a DNS name; port 0 (pick one) to 65535. */
export const LISTEN_PATTERN = new RegExp(`^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):${PORT}$`)

export const LISTEN_EXPECTED = `host:port with a port from 0 to ${MAX_PORT} (e.g. 127.0.0.1:50051)`

export type ListenAddress = { readonly host: string; readonly port: number }

/** The address net.Server.listen takes, or undefined when `text` is not a listen address. */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const m = LISTEN_PATTERN.exec(text)
  if (m === null) return undefined
  return { host: (m[1] as string).replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) }
}
