"""Watches grpc.health.v1 Health/Watch with Python grpcio (gRPC C-core), independent of Node.

Usage: grpcio_health_watch.py PORT SERVICE
Prints one JSON line per message: {"status": <ServingStatus int>}, then {"end": <grpc code int>}
when the stream ends. The request and responses are hand-encoded (one varint/string field each),
so no generated health stubs are needed.
"""
import json
import sys

import grpc

METHOD = "/grpc.health.v1.Health/Watch"


def encode_request(service: str) -> bytes:
    data = service.encode("utf-8")
    assert len(data) < 128
    return (b"\x0a" + bytes([len(data)]) + data) if data else b""


def decode_status(message: bytes) -> int:
    # HealthCheckResponse { ServingStatus status = 1; }: tag 0x08 then a one-byte varint.
    return message[1] if len(message) >= 2 and message[0] == 0x08 else 0


def main() -> None:
    port, service = sys.argv[1], sys.argv[2]
    options = [("grpc.enable_http_proxy", 0)]  # loopback only: never through a proxy
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        watch = channel.unary_stream(
            METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        call = watch(encode_request(service), timeout=30)
        try:
            for message in call:
                print(json.dumps({"status": decode_status(message)}), flush=True)
            code = call.code().value[0]
        except grpc.RpcError as err:
            code = err.code().value[0]
        print(json.dumps({"end": code}), flush=True)


if __name__ == "__main__":
    main()
