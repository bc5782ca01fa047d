"""A decoder library that cannot be loaded is an error at start, never a silent fallback.

The machine running the tests has libzbar0; each test starts a fresh Python
whose ``sitecustomize`` makes ``ctypes.util.find_library("zbar")`` find
nothing, which is exactly what pyzbar sees on a till where only ``pip
install`` ran (pyzbar then raises ImportError). Nothing is uninstalled.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from hardware_sim import render_phone, sample_token

ROOT = Path(__file__).resolve().parents[2]
TOKEN = sample_token(np.random.default_rng(31))

_NO_ZBAR = '''
import ctypes.util

_find = ctypes.util.find_library


def find_library(name):
    return None if name == "zbar" else _find(name)


ctypes.util.find_library = find_library
'''


@pytest.fixture
def no_zbar_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_NO_ZBAR, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOPILKA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    return env


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                           text=True, timeout=120, check=False)


def _kopilka(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The ``kopilka`` command (the project's console entry point) in that environment."""
    return subprocess.run([sys.executable, "-c", "import sys; from cli import main; "
                           "sys.argv[0] = 'kopilka'; main()", *args],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)


def test_the_environment_really_hides_libzbar(no_zbar_env: dict[str, str]) -> None:
    res = _python("import pyzbar.pyzbar", no_zbar_env)
    assert res.returncode != 0
    assert "Unable to find zbar shared library" in res.stderr


def test_opening_a_camera_without_libzbar_raises_a_typed_device_error(
        no_zbar_env: dict[str, str]) -> None:
    res = _python(
        "from drivers import Camera, CameraError, DeviceError\n"
        "try:\n"
        "    Camera('0')\n"
        "except CameraError as exc:\n"
        "    assert isinstance(exc, DeviceError)\n"
        "    print(exc.reason); print(exc)\n"
        "else:\n"
        "    print('opened')\n", no_zbar_env)
    assert res.returncode == 0, res.stderr
    reason, message = res.stdout.splitlines()
    assert reason == "missing_library"
    assert "pyzbar" in message and "apt-get install libzbar0" in message


def test_the_agents_camera_start_fails_without_libzbar(no_zbar_env: dict[str, str]) -> None:
    """The agent builds its camera through ``Runtime.camera``: that call must raise."""
    res = _python(
        "from types import SimpleNamespace\n"
        "from agent._runtime import Runtime\n"
        "from drivers import CameraError\n"
        "try:\n"
        "    Runtime.camera(Runtime.__new__(Runtime), SimpleNamespace(camera='0'), print)\n"
        "except CameraError as exc:\n"
        "    print(exc.reason)\n", no_zbar_env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "missing_library"


def test_an_explicit_zxing_chain_works_without_libzbar(no_zbar_env: dict[str, str]) -> None:
    res = _python("from drivers import make_decoder; print(make_decoder('zxing').name)", no_zbar_env)
    assert res.returncode == 0, res.stderr
    assert "pyzbar" not in res.stdout


@pytest.fixture
def phone_png(tmp_path: Path) -> Path:
    path = tmp_path / "phone.png"
    cv2.imwrite(str(path), render_phone(TOKEN, rng=np.random.default_rng(3)).image)
    return path


def test_hw_decode_without_libzbar_is_one_loud_line_and_exit_1(
        no_zbar_env: dict[str, str], phone_png: Path) -> None:
    res = _kopilka(["hw", "decode", str(phone_png)], no_zbar_env)
    assert res.returncode == 1
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "pyzbar" in lines[0] and "apt-get install libzbar0" in lines[0]
    assert "--decoders zxing" in lines[0]


def test_hw_decode_with_decoders_zxing_reads_without_libzbar(
        no_zbar_env: dict[str, str], phone_png: Path) -> None:
    res = _kopilka(["hw", "decode", "--decoders", "zxing", str(phone_png)], no_zbar_env)
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"{phone_png}\t{TOKEN}\n"


def test_agent_run_with_a_camera_fails_at_start_without_libzbar(
        no_zbar_env: dict[str, str], tmp_path: Path) -> None:
    """``kopilka agent run`` with ``[camera]`` configured: exit 1, the reason on stderr."""
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes((ROOT / "examples" / "bundle.json").read_bytes())
    cfg = tmp_path / "till.toml"
    cfg.write_text('[till]\nid = "KY-001-01"\nstore = "KY-001"\nprogram = "kopilka"\n'
                   '[paths]\ndata_dir = "data"\nbundle = "bundle.json"\n'
                   '[api]\nport = 0\n[camera]\nsource = "0"\n', encoding="utf-8")
    res = _kopilka(["agent", "run", "--config", str(cfg)], no_zbar_env)
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: missing_library")
    assert "apt-get install libzbar0" in last
