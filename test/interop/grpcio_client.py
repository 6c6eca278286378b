"""Drives extproc-authz's Process method with Python grpcio (gRPC C-core), independent of Node.

Usage: grpcio_client.py PORT FRAMES_HEX_FILE
FRAMES_HEX_FILE holds one hex-encoded ProcessingRequest per line (a separate stream each).
Prints one JSON line per stream: {"status": <grpc code int>, "responses": [hex, ...]}.
Serialization is bytes in, bytes out: the Node test decodes the answers with proto-loader.
"""
import json
import sys

import grpc

METHOD = "/envoy.service.ext_proc.v3.ExternalProcessor/Process"


def main() -> None:
    port, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        messages = [bytes.fromhex(line.strip()) for line in f if line.strip()]
    # Loopback only: never route through an http_proxy from the environment.
    options = [("grpc.enable_http_proxy", 0)]
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        process = channel.stream_stream(
            METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        for message in messages:
            call = process(iter([message]), timeout=5)
            responses = []
            try:
                for r in call:
                    responses.append(r.hex())
                code = call.code().value[0]
            except grpc.RpcError as err:
                code = err.code().value[0]
            print(json.dumps({"status": code, "responses": responses}), flush=True)


if __name__ == "__main__":
    main()
