"""``kopilka sim camera`` and ``kopilka sim phone``: the camera and phone twins."""
from __future__ import annotations

from pathlib import Path

import click
import cv2
import numpy as np

from hardware_sim._camera import CameraTwin, demo_script, write_video
from hardware_sim._codes import sample_card, sample_token
from hardware_sim._card import render_card
from hardware_sim._phone import render_phone
from hardware_sim._scene import KINDS, compose_frame, robustness_set, standard_distortion


@click.command("camera")
@click.option("--out", type=click.Path(dir_okay=False), help="Video file to write (.avi, MJPG).")
@click.option("--frames-dir", type=click.Path(file_okay=False),
              help="Write PNG frames (NNNN.png) into this folder instead.")
@click.option("--code", "codes", multiple=True,
              help="A code a customer shows (repeatable); default: --customers random ones.")
@click.option("--customers", default=3, show_default=True, help="Random codes when no --code.")
@click.option("--idle", default=60, show_default=True, help="Empty-counter frames between customers.")
@click.option("--hold", default=20, show_default=True, help="Frames each phone is held up.")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS[:-1]),
              help="Distortions the customers cycle through (default plain, dark, rotation, glare).")
@click.option("--robustness-set", "robustness", type=int, default=0,
              help="Instead: write the first N frames of the seeded robustness set "
                   "to --frames-dir with a manifest.tsv.")
@click.option("--seed", default=0, show_default=True)
def camera(out: str | None, frames_dir: str | None, codes: tuple[str, ...], customers: int,
           idle: int, hold: int, kinds: tuple[str, ...], robustness: int, seed: int) -> None:
    """Render the counter camera: customers' phones between long empty runs.

    Writes a video file OpenCV reads back (--out) or PNG frames
    (--frames-dir), and prints which frames show which code. The same
    --seed gives the same pixels.

    Example: kopilka sim camera --out counter.avi --customers 5 --seed 7
    """
    if robustness:
        if not frames_dir:
            raise click.UsageError("--robustness-set needs --frames-dir")
        folder = Path(frames_dir)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "manifest.tsv", "w", encoding="utf-8") as manifest:
            manifest.write("file\tkind\tpayload\n")
            for s in robustness_set(robustness, seed=seed or 20260401):
                name = f"{s.index:04d}.png"
                cv2.imwrite(str(folder / name), s.frame)
                manifest.write(f"{name}\t{s.distortion.kind}\t{s.payload or '-'}\n")
        click.echo(f"wrote {robustness} frames and manifest.tsv to {folder}")
        return
    if not out and not frames_dir:
        raise click.UsageError("give --out FILE.avi or --frames-dir DIR")
    rng = np.random.default_rng(seed)
    chosen = list(codes) or [sample_card(rng) if i % 3 == 2 else sample_token(rng)
                             for i in range(customers)]
    script = demo_script(chosen, idle=idle, hold=hold, **({"kinds": kinds} if kinds else {}))
    twin = CameraTwin(script, seed=seed)
    if out:
        n = write_video(out, twin, fps=twin.fps)
        click.echo(f"wrote {n} frames to {out}")
    else:
        folder = Path(frames_dir or ".")
        folder.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(twin):
            cv2.imwrite(str(folder / f"{i:04d}.png"), frame)
        click.echo(f"wrote {twin.frame_count} frames to {folder}")
    start = 0
    for shot in script:
        if shot.payload is not None:
            click.echo(f"frames {start}-{start + shot.frames - 1}\t{shot.kind}\t{shot.payload}")
        start += shot.frames


@click.command("phone")
@click.option("--code", required=True, help="Token or 13-digit card number to show.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG file to write.")
@click.option("--dark", is_flag=True, help="Dark mode: the code light on dark.")
@click.option("--kind", type=click.Choice(KINDS[:-1]), default="plain", show_default=True,
              help="Distortion of the camera frame.")
@click.option("--symbology", type=click.Choice(["qr", "ean13"]),
              help="Default: EAN-13 for a 13-digit number, QR otherwise.")
@click.option("--flat", is_flag=True, help="Write the phone screen itself, not a camera frame.")
@click.option("--seed", default=0, show_default=True)
def phone(code: str, out: str, dark: bool, kind: str, symbology: str | None, flat: bool,
          seed: int) -> None:
    """Render a customer's phone showing CODE, as a 1280x720 camera frame.

    --kind card shows a plastic card's EAN-13 (13-digit CODE) instead.

    Example: kopilka sim phone --code 2700000000015 --out card.png --kind rotation
    """
    rng = np.random.default_rng(seed)
    d = standard_distortion(kind, rng)
    try:
        if kind == "card":
            screen = render_card(code, rng=rng)
        else:
            screen = render_phone(code, rng=rng, symbology=symbology, dark=dark or d.dark,
                                  code_fraction=d.code_fraction)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    image = screen.image if flat else compose_frame(screen, d, rng)
    if not cv2.imwrite(out, image):
        raise click.ClickException(f"cannot write {out}")
    click.echo(f"wrote {out}")

