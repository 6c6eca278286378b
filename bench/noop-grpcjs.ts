import * as grpc from '@grpc/grpc-js'
import { encodeContinue } from '../src/extproc/codec/processing-response.js'
import { externalProcessorService } from '../src/transport/grpc-js/process-call.js'

/** @grpc/grpc-js with pass-through (de)serializers: answers CONTINUE without decoding. */
export function startNoopGrpcJs(port = 0): Promise<number> {
  const reply = encodeContinue('request_headers')
  const server = new grpc.Server({ 'grpc.keepalive_permit_without_calls': 1 })
  server.addService(externalProcessorService, {
    Process(call: grpc.ServerDuplexStream<Buffer, Buffer>) {
      let answered = false
      call.on('data', () => {
        if (answered) return
        answered = true
        call.write(reply)
      })
      call.on('end', () => call.end())
      call.on('error', () => {})
    },
  })
  return new Promise((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    )
  })
}
