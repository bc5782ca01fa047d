"""``kopilka hw test-print`` and ``kopilka hw test-scan``: store IT checks."""
from __future__ import annotations

import time

import click

from drivers._errors import DeviceError
from drivers._printer import Printer, PrinterConfig
from drivers._scanner import Scanner, ScannerConfig


@click.command("test-print")
@click.option("--printer", "url", default="tcp://127.0.0.1:9100", show_default=True,
              help="tcp://host:port, serial:///dev/ttyUSB0?baudrate=19200, usb://VID:PID, file:///dev/usb/lp0")
@click.option("--codepage", default="CP866", show_default=True)
@click.option("--image", "as_image", is_flag=True, help="print text as a picture")
def test_print(url: str, codepage: str, as_image: bool) -> None:
    """Ask the printer's status, then print a short test receipt with Cyrillic.

    Example: kopilka hw test-print --printer tcp://127.0.0.1:9100
    """
    try:
        with Printer(PrinterConfig(url=url, codepage=codepage, as_image=as_image)) as p:
            assert isinstance(p, Printer)
            click.echo(f"status: {p.status().condition.value}")
            out = p.print_lines(["kopilka: тестовая печать", "АБВГДЕЁЖЗ абвгдеёжз 0123456789", "-" * 32])
            click.echo(f"printed {len(out.job.data)} bytes ({'image' if out.job.as_image else codepage}); "
                       f"status after: {out.after.condition.value}")
    except DeviceError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("test-scan")
@click.option("--port", required=True, help="the scanner's serial port, e.g. /dev/serial/by-id/usb-...")
@click.option("--baud", type=int, default=9600, show_default=True)
@click.option("--terminator", type=click.Choice(["CR", "LF", "CRLF", "none"]), default="CR", show_default=True)
@click.option("--count", type=int, default=1, show_default=True, help="stop after this many scans")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="give up after this many seconds")
def test_scan(port: str, baud: int, terminator: str, count: int, timeout: float) -> None:
    """Read scans from the scanner and show how the till understands each one.

    Example: kopilka hw test-scan --port /dev/ttyACM0 --count 3
    """
    try:
        with Scanner(ScannerConfig(port=port, baudrate=baud, terminator=terminator)) as sc:
            assert isinstance(sc, Scanner)
            deadline = time.monotonic() + timeout
            seen = 0
            while seen < count:
                event = sc.get(timeout=max(0.0, deadline - time.monotonic()))
                if event is None:
                    raise click.ClickException(f"no scan within {timeout:g} s ({seen} of {count})")
                seen += 1
                extra = ""
                if event.weight_grams is not None:
                    extra = f" weight={event.weight_grams}g"
                elif event.price_kopecks is not None:
                    extra = f" price={event.price_kopecks}kop"
                click.echo(f"{event.kind.value}\t{event.symbology or '-'}\t{event.payload!r}{extra}")
            for reason, n in sorted(sc.counters.items()):
                if reason.startswith("dropped."):
                    click.echo(f"{reason}: {n}")
    except DeviceError as exc:
        raise click.ClickException(str(exc)) from exc
