"""``kopilka sim chaos``: the faulty network proxy from the command line."""
from __future__ import annotations

import sys
import threading

import click

from ._netproxy import ChaosMode, ChaosProxy
from ._signals import stop_on_signals


def _target(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise click.BadParameter("expected HOST:PORT", param_hint="--target")
    return host or "127.0.0.1", int(port)


@click.command()
@click.option("--listen", "listen", type=int, required=True, help="Port to listen on (127.0.0.1).")
@click.option("--target", "target", required=True, help="HOST:PORT of the real server behind.")
@click.option("--mode", type=click.Choice([m.value for m in ChaosMode]), default="pass", show_default=True,
              help="Initial fault mode.")
@click.option("--delay", "delay_s", type=float, default=0.2, show_default=True, help="Delay per chunk (delay mode).")
@click.option("--retry-after", "retry_after_s", type=int, default=1, show_default=True,
              help="Retry-After seconds of the 503 answers.")
def chaos(listen: int, target: str, mode: str, delay_s: float, retry_after_s: int) -> None:
    """Run a chaos TCP proxy in front of a server (the ledger) on 127.0.0.1.

    Modes: pass, delay, drop, reset (mid-response), 503 (with Retry-After),
    blackhole. Type a mode name and Enter to switch while it runs; Ctrl-C stops.

    Example: kopilka sim chaos --listen 9801 --target 127.0.0.1:8800 --mode 503
    """
    stop_on_signals()
    proxy = ChaosProxy(_target(target), listen_port=listen, mode=mode, delay_s=delay_s,
                       retry_after_s=retry_after_s)
    proxy.start()
    click.echo(f"chaos proxy {proxy.url} -> {target}, mode {proxy.mode.value}", err=True)
    try:
        for line in sys.stdin:
            word = line.strip()
            if not word:
                continue
            try:
                proxy.set_mode(word)
                click.echo(f"mode {proxy.mode.value}", err=True)
            except ValueError:
                click.echo(f"unknown mode {word!r}; one of {[m.value for m in ChaosMode]}", err=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.close()
