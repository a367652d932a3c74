"""Run xllamacpp's embedded llama-server (parallel slots, continuous batching) until killed.

    python tests/xllamacpp_server.py GGUF PORT [--parallel N] [--ctx N] [--api-key KEY] [--alias A]

The wheel serves llama.cpp's HTTP API (``/v1/*``, ``/props``, ``/tokenize``) from a thread of
this process, so the tests run it as its own process to be able to kill it mid-stream.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("gguf")
    parser.add_argument("port", type=int)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--api-key", default="")
    parser.add_argument("--alias", default="")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.gguf
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.n_parallel = args.parallel
    params.n_ctx = args.ctx  # shared by the slots: n_ctx / parallel each
    params.cont_batching = True
    params.endpoint_props = True
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.warmup = False
    if args.alias:
        params.model_alias = [args.alias]
    if args.api_key:
        params.api_keys = [args.api_key]
    server = xllamacpp.Server(params)
    print(f"listening {server.listening_address}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
