import type * as grpc from '@grpc/grpc-js'
import { answerHealthCheck, HEALTH_CHECK_PATH, type HealthState } from '../observe/health.js'

const passthrough = (b: Buffer): Buffer => b

/** grpc.health.v1.Health/Check on grpc-js, with the same answers as the lean transport. */
export const healthService: grpc.ServiceDefinition = {
  Check: {
    path: HEALTH_CHECK_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: passthrough,
    requestDeserialize: passthrough,
    responseSerialize: passthrough,
    responseDeserialize: passthrough,
  },
}

export function healthHandler(state: HealthState): grpc.UntypedServiceImplementation {
  return {
    Check(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      const answer = answerHealthCheck(call.request, state)
      if (answer.ok) callback(null, answer.response)
      else callback({ code: answer.grpcStatus, details: answer.message })
    },
  }
}
