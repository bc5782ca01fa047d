"""``kopilka hw decode`` and ``kopilka hw test-camera``: the camera checks of store IT."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import click

from drivers._camera import Camera, CaptureLike
from drivers._decode import DecoderChain, make_decoder
from drivers._errors import DeviceError

_DECODERS = click.Choice(["default", "legacy", "zxing", "pyzbar"])


def _chain(decoder: str, **kwargs: object) -> DecoderChain:
    """The chain by name; a backend this machine cannot load is one loud line and exit 1."""
    try:
        return make_decoder(decoder, **kwargs)  # type: ignore[arg-type]
    except DeviceError as exc:
        hint = "; or choose `--decoders zxing`" if exc.reason == "missing_library" else ""
        raise click.ClickException(f"{exc}{hint}") from exc


@click.command("decode")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--decoders", "--decoder", "decoder", type=_DECODERS, default="default",
              show_default=True,
              help="Decoder chain: default (zxing-cpp and zbar), legacy, or one library alone "
                   "(zxing: for a machine without libzbar0).")
@click.option("--strict", is_flag=True,
              help="Print an EAN-13 only when two independent reads of the file agree "
                   "(the camera's rule); QR codes are signed and need one read.")
def decode(images: tuple[str, ...], decoder: str, strict: bool) -> None:
    """Decode the QR codes and EAN-13 barcodes in image files (camera snapshots).

    Prints one line per file: FILE<TAB>PAYLOAD (several codes: more
    tab-separated payloads), or FILE<TAB>- when nothing is found. Every step
    of the chain runs (no time budget). With --strict an EAN-13 is printed
    only when two independent reads agree (else -). Unreadable files are
    reported on stderr and make the exit status 2. A decoder library that
    cannot be loaded (the default chain needs libzbar0) is one line on
    stderr and exit status 1.

    Example: kopilka hw decode --strict snapshot.png counter.jpg
    """
    chain = _chain(decoder, budget_ms=None, max_width=1 << 20)
    import cv2  # only here: importing the CLI must not load OpenCV on a till without a camera

    failed = False
    for name in images:
        frame = cv2.imread(name, cv2.IMREAD_COLOR) if Path(name).is_file() else None
        if frame is None:
            click.echo(f"error: cannot read image {name}", err=True)
            failed = True
            continue
        found = [d.payload for d in chain.decode(frame) if d.confirmed or not strict]
        click.echo("\t".join([name] + (found or ["-"])))
    if failed:
        raise SystemExit(2)


#: Sources by name beyond a device, file or URL; the composition root adds
#: them (``cli.py`` adds ``sim``, the camera twin), so drivers never imports
#: the simulators.
_NAMED_SOURCES: dict[str, Callable[[int], CaptureLike]] = {}


def add_camera_source(name: str, make: Callable[[int], CaptureLike]) -> None:
    """Let ``kopilka hw test-camera --source NAME`` read from ``make(seed)``."""
    _NAMED_SOURCES[name] = make


def _open_source(source: str, seed: int) -> int | str | CaptureLike:
    make = _NAMED_SOURCES.get(source)
    return source if make is None else make(seed)


@click.command("test-camera")
@click.option("--source", default="0", show_default=True,
              help="Device index, video file, stream URL, or 'sim' for the camera twin.")
@click.option("--frames", default=90, show_default=True, help="Frames to read.")
@click.option("--decoders", "--decoder", "decoder", type=_DECODERS, default="default",
              show_default=True)
@click.option("--seed", default=0, show_default=True, help="Seed of the 'sim' source.")
def test_camera(source: str, frames: int, decoder: str, seed: int) -> None:
    """Read frames from the camera, decode them, and report codes and timing.

    Prints each code read (frame number, symbology, backend, payload), then
    frames read, read+decode time per frame (median, p99) and the camera's
    counters. Exit status 1 when the camera cannot be opened or gives no
    frame.

    Example: kopilka hw test-camera --source 0 --frames 150
    """
    chain = _chain(decoder)
    try:
        cam = Camera(_open_source(source, seed), decoder=chain)
        cam.open()
    except DeviceError as exc:
        raise click.ClickException(str(exc)) from exc
    times: list[float] = []
    try:
        cam.arm()
        for _ in range(frames):
            t0 = time.perf_counter()
            scans = cam.poll()
            if scans is None:
                if cam.ended:
                    break
                continue
            times.append((time.perf_counter() - t0) * 1000)
            for s in scans:
                by = f" (confirmed by {s.confirmed_by})" if s.confirmed_by else ""
                click.echo(f"frame {s.frame_index}\t{s.symbology}\t{s.backend}{by}\t{s.payload}")
        health = cam.health()
    finally:
        cam.close()
    if not times:
        raise click.ClickException(f"no frame read from {source}")
    import numpy as np

    ms = np.array(times)
    click.echo(f"frames read: {len(times)}; read+decode ms per frame: median {np.median(ms):.1f}, "
               f"p99 {np.percentile(ms, 99):.1f}")
    click.echo("counters: " + ", ".join(f"{k}={v}" for k, v in sorted(health.counters.items())))
