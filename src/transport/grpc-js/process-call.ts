import type * as grpc from '@grpc/grpc-js'
import { ProcessStream, type StreamObserver } from '../../extproc/process-stream.js'
import type { SnapshotSource } from '../../extproc/snapshot.js'
import { PROCESS_METHOD_PATH } from '../contract.js'

const passthrough = (b: Buffer): Buffer => b

/**
 * The ExternalProcessor service with raw-bytes (de)serialization: messages are decoded and
 * encoded by our own codec (src/extproc/codec), which reads only the fields a decision uses.
 */
export const externalProcessorService: grpc.ServiceDefinition = {
  Process: {
    path: PROCESS_METHOD_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: passthrough,
    requestDeserialize: passthrough,
    responseSerialize: passthrough,
    responseDeserialize: passthrough,
  },
}

export function processHandler(
  snapshots: SnapshotSource,
  observer: StreamObserver,
  hooks: { onStreamStart?: () => boolean | undefined; onStreamEnd?: () => void } = {},
): grpc.UntypedServiceImplementation {
  return {
    Process(call: grpc.ServerDuplexStream<Buffer, Buffer>) {
      const admitted = hooks.onStreamStart?.() !== false
      // An admitted stream holds its slot until its first answer (or its end); a refused one
      // never held one.
      let ended = !admitted
      const done = () => {
        if (ended) return
        ended = true
        hooks.onStreamEnd?.()
      }
      const stream = new ProcessStream(
        snapshots,
        {
          send: (m) => {
            done()
            if (!call.writableEnded) call.write(m)
          },
          end: () => {
            if (!call.writableEnded) call.end()
          },
        },
        observer,
        admitted,
      )
      call.on('data', (m: Buffer) => stream.push(m))
      call.on('end', () => stream.endOfInput())
      call.on('cancelled', () => {
        stream.cancel()
        done()
      })
      call.on('error', () => {
        stream.cancel()
        done()
      })
      call.on('finish', done)
      call.on('close', done)
    },
  }
}
