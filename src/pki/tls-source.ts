import type { Config } from '../config/schema.js'
import { AuthzError } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import type { ServingTls } from './serving-tls.js'
import { type TlsWatcher, watchServingTls } from './watch-serving-tls.js'
import { startWorkloadApiTls } from './workload-api-source.js'

type TlsConfig = NonNullable<Config['tls']>

/** The serving certificate source the config names: watched files or the SPIFFE Workload API. */
export async function startTlsSource(
  tls: TlsConfig,
  onRotate: (next: ServingTls) => void,
  logger: Logger,
): Promise<TlsWatcher> {
  if (tls.workload_api !== undefined) {
    const socket = tls.workload_api.socket ?? process.env.SPIFFE_ENDPOINT_SOCKET
    if (socket === undefined) {
      throw new AuthzError(
        'ERR_WORKLOAD_API_SOCKET',
        'no socket configured and SPIFFE_ENDPOINT_SOCKET is not set',
        { keyPath: 'tls.workload_api.socket', hint: "set it to the agent's unix:///path" },
      )
    }
    return startWorkloadApiTls(
      socket,
      tls.allowed_peers,
      onRotate,
      logger,
      tls.workload_api.start_timeout_seconds * 1000,
    )
  }
  // The schema guarantees all three file fields when workload_api is absent.
  const files = {
    cert_file: tls.cert_file as string,
    key_file: tls.key_file as string,
    bundles: tls.bundles as Record<string, string>,
    allowed_peers: tls.allowed_peers,
  }
  return watchServingTls(files, onRotate, (err) =>
    logger.warn({ err: String(err) }, 'TLS files not (yet) usable; keeping the working pair'),
  )
}
