import type * as grpc from '@grpc/grpc-js'
import {
  answerHealthCheck,
  HEALTH_CHECK_PATH,
  HEALTH_WATCH_PATH,
  type HealthState,
} from '../../observe/health.js'
import { startHealthWatch } from '../../observe/health-watch.js'

const passthrough = (b: Buffer): Buffer => b
const bytes = {
  requestSerialize: passthrough,
  requestDeserialize: passthrough,
  responseSerialize: passthrough,
  responseDeserialize: passthrough,
}

/** grpc.health.v1.Health Check and Watch on grpc-js, with the same answers as the lean transport. */
export const healthService: grpc.ServiceDefinition = {
  Check: { path: HEALTH_CHECK_PATH, requestStream: false, responseStream: false, ...bytes },
  Watch: { path: HEALTH_WATCH_PATH, requestStream: false, responseStream: true, ...bytes },
}

export function healthHandler(state: HealthState): grpc.UntypedServiceImplementation {
  return {
    Check(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      const answer = answerHealthCheck(call.request, state)
      if (answer.ok) callback(null, answer.response)
      else callback({ code: answer.grpcStatus, details: answer.message })
    },
    Watch(call: grpc.ServerWritableStream<Buffer, Buffer>) {
      const started = startHealthWatch(call.request, state, {
        send: (response) => {
          if (!call.cancelled && !call.writableEnded) call.write(response)
        },
        end: () => {
          if (!call.writableEnded) call.end()
        },
      })
      if (!started.ok) {
        call.emit('error', { code: started.grpcStatus, details: started.message })
        return
      }
      call.on('cancelled', started.cancel)
      call.on('close', started.cancel)
    },
  }
}
