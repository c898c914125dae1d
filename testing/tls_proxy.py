#!/usr/bin/env python3
"""TLS-terminating TCP proxy, so tests can exercise the bridge's TLS exporter
config against an OTLP receiver (rotel) that only speaks plain TCP.

    python testing/tls_proxy.py --listen 127.0.0.1:0 --port-file F \\
        --upstream 127.0.0.1:4317 --cert server.pem --key server-key.pem

Accepts TLS, then copies raw bytes both ways to the upstream; it never parses
HTTP, so gRPC (h2) and OTLP/HTTP both pass through. ALPN offers h2 and
http/1.1: gRPC clients (tonic/rustls) refuse a TLS connection without "h2"
negotiated, and the upstream decides the protocol from the bytes anyway
(h2 prior knowledge vs HTTP/1.1), so the proxy need not care which was picked
-- provided the upstream speaks both, as rotel's HTTP and gRPC ports do. For an
HTTP/1-only upstream pass --alpn http/1.1.

The port file is written atomically once listening. Exits 0 on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import ssl
import sys
from pathlib import Path


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        # Pass the half-close on (gRPC/HTTP clients may still await the
        # response); TLS transports cannot half-close, so close those.
        if writer.can_write_eof():
            writer.write_eof()
        else:
            writer.close()
    except (ConnectionError, ssl.SSLError, OSError):
        writer.close()


# Writers of every open tunnel, so shutdown can abort them (see _serve).
_open: set[asyncio.StreamWriter] = set()


async def _handle(
    upstream: tuple[str, int],
    client_r: asyncio.StreamReader,
    client_w: asyncio.StreamWriter,
) -> None:
    try:
        up_r, up_w = await asyncio.open_connection(*upstream)
    except OSError as err:
        print(f"tls_proxy: upstream {upstream}: {err}", file=sys.stderr, flush=True)
        client_w.close()
        return
    _open.update((client_w, up_w))
    try:
        await asyncio.gather(_pump(client_r, up_w), _pump(up_r, client_w))
    finally:
        for w in (up_w, client_w):
            _open.discard(w)
            w.close()


def _write_port_file(path: str, port: int) -> None:
    # Write-then-rename so a poller never reads an empty or partial file.
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(f"{port}\n")
    os.replace(tmp, target)


async def _serve(args: argparse.Namespace) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.set_alpn_protocols(args.alpn.split(","))
    upstream = _host_port(args.upstream)
    host, port = _host_port(args.listen)

    server = await asyncio.start_server(
        lambda r, w: _handle(upstream, r, w), host, port, ssl=ctx
    )
    bound = server.sockets[0].getsockname()[1]
    if args.port_file:
        _write_port_file(args.port_file, bound)
    print(f"tls_proxy: {host}:{bound} -> {args.upstream}", file=sys.stderr, flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    # Idle gRPC channels keep tunnels open forever. Aborting their transports
    # ends the pumps with EOF; merely cancelling the handler tasks instead makes
    # asyncio log a traceback per tunnel, and Server.wait_closed() (3.12+)
    # would wait for them.
    for w in list(_open):
        w.transport.abort()
    await asyncio.sleep(0.1)
    if args.port_file:
        Path(args.port_file).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT, port 0 picks one")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--upstream", required=True, help="plain-TCP HOST:PORT to forward to")
    parser.add_argument("--cert", required=True, help="server certificate chain (PEM)")
    parser.add_argument("--key", required=True, help="server private key (PEM)")
    parser.add_argument("--alpn", default="h2,http/1.1", help="ALPN protocols, by preference")
    asyncio.run(_serve(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
