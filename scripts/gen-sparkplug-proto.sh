#!/bin/sh
# Regenerate devices/sparkplug/sparkplug_b_pb2.py and .pyi from sparkplug_b.proto with
# grpcio-tools' bundled protoc (the `test` extra). Run from the repository root;
# tests/devices/test_sparkplug_proto.py runs the same command and compares.
set -eu
PYTHON="${PYTHON:-python}"
"$PYTHON" -m grpc_tools.protoc --proto_path=devices/sparkplug \
    --python_out=devices/sparkplug --pyi_out=devices/sparkplug \
    devices/sparkplug/sparkplug_b.proto
