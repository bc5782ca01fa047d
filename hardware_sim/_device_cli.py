"""``kopilka sim scanner`` and ``kopilka sim printer``: the twins from a shell."""
from __future__ import annotations

import signal
import sys
import threading

import click

from hardware_sim._printer import PrinterTwin, write_receipt
from hardware_sim._scanner import ScannerTwin
from hardware_sim._signals import stop_on_signals


@click.command()
@click.option("--terminator", type=click.Choice(["CR", "LF", "CRLF", "none"]), default="CR", show_default=True)
@click.option("--prefix", default="", help="AIM symbology prefix to send before each code, e.g. ]E0")
@click.option("--link-dir", default=None, help="also make a by-id style symlink to the pty in this directory")
@click.option("--delay", type=float, default=0.0, help="seconds per byte (a slow scanner)")
@click.argument("codes", nargs=-1)
def scanner(terminator: str, prefix: str, link_dir: str | None, delay: float, codes: tuple[str, ...]) -> None:
    """Simulate a serial barcode scanner on a pty.

    Prints the pty path (open it as the scanner port), sends CODES, then one
    code per line read from stdin until end of input or Ctrl-C.

    Example: kopilka sim scanner --prefix ']E0' 4607000000014 96385074
    """
    stop_on_signals()
    twin = ScannerTwin(terminator=terminator, prefix=prefix or None, link_dir=link_dir, char_delay=delay).open()
    try:
        click.echo(twin.link or twin.path)
        sys.stdout.flush()
        for code in codes:
            twin.scan(code)
        for line in sys.stdin:
            if line.strip():
                twin.scan(line.strip())
    except KeyboardInterrupt:
        pass
    finally:
        twin.close()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9100, show_default=True, help="0 picks a free port")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="receipts go here")
@click.option("--columns", type=int, default=48, show_default=True)
def printer(host: str, port: int, out_dir: str, columns: int) -> None:
    """Simulate an ESC/POS network printer; write each receipt as NNNN.txt and NNNN.png.

    Runs until Ctrl-C.

    Example: kopilka sim printer --port 9100 --out receipts/
    """
    def save(receipt: object) -> None:
        txt, _ = write_receipt(receipt, out_dir)  # type: ignore[arg-type]
        click.echo(f"receipt {txt}")

    stop = threading.Event()
    # both signals only set the event; the main thread notices within half a second
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    twin = PrinterTwin(host, port, columns=columns, on_receipt=save).start()
    click.echo(f"printer listening on {twin.url}")
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        twin.stop()
