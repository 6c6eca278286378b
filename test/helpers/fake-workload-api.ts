import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import type { Issued } from '../../src/pki/generate.js'

const DESCRIPTOR = new URL('../../proto/extproc-authz.binpb', import.meta.url)
const der = (pem: string) => new X509Certificate(pem).raw
const keyDer = (pem: string) => createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' })

/** A SPIFFE agent stand-in: a real gRPC server on a unix socket speaking the Workload API. */
export class FakeAgent {
  readonly server = new grpc.Server()
  private readonly streams = new Set<grpc.ServerWritableStream<unknown, unknown>>()
  current: object | undefined
  calls = 0
  refusedWithoutHeader = 0

  constructor() {
    const def = protoLoader.loadFileDescriptorSetFromBuffer(readFileSync(DESCRIPTOR), {
      keepCase: true,
    })
    const svc = (
      grpc.loadPackageDefinition(def) as unknown as {
        SpiffeWorkloadAPI: grpc.ServiceClientConstructor
      }
    ).SpiffeWorkloadAPI
    this.server.addService(svc.service, {
      FetchX509SVID: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        this.calls++
        // The Workload API refuses calls without the security header.
        if (call.metadata.get('workload.spiffe.io')[0] !== 'true') {
          this.refusedWithoutHeader++
          call.destroy(
            Object.assign(new Error('security header missing'), {
              code: grpc.status.INVALID_ARGUMENT,
            }),
          )
          return
        }
        this.streams.add(call)
        call.on('cancelled', () => this.streams.delete(call))
        if (this.current) call.write(this.current)
      },
    })
  }

  publish(ca: Issued, leaf: Issued, id: string) {
    this.current = {
      svids: [
        {
          spiffe_id: id,
          x509_svid: der(leaf.certPem),
          x509_svid_key: keyDer(leaf.keyPem),
          bundle: der(ca.certPem),
        },
      ],
      federated_bundles: [],
    }
    for (const s of this.streams) s.write(this.current)
  }

  listen(path: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.server.bindAsync(`unix:${path}`, grpc.ServerCredentials.createInsecure(), (e) =>
        e ? reject(e) : resolve(),
      ),
    )
  }
}
