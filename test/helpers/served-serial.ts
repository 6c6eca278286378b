import { X509Certificate } from 'node:crypto'
import { connect } from 'node:tls'

/**
 * Makes a fresh TLS handshake to 127.0.0.1:`port` the way Envoy would (its client certificate,
 * only the bundle CA trusted, h2) and returns the serial number of the certificate the server
 * presented: which serving certificate new connections get right now.
 */
export function servedSerial(
  port: number,
  client: { readonly ca: string; readonly cert: string; readonly key: string },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(
      { host: '127.0.0.1', port, ...client, servername: 'localhost', ALPNProtocols: ['h2'] },
      () => {
        const raw = s.getPeerX509Certificate()?.raw ?? Buffer.alloc(0)
        s.destroy()
        resolve(new X509Certificate(raw).serialNumber)
      },
    )
    s.on('error', reject)
  })
}
