"""One TOML file per till, validated on load.

A store IT person edits this file by hand, so every problem is reported
with the key that is wrong (``ConfigError.field == "ledger.hold_budget_ms"``)
before the daemon touches any device.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import msgspec

from ._errors import ConfigError
from ._i18n import DEFAULT_LANGUAGE, LANGUAGES


@dataclass(frozen=True)
class HintSettings:
    """The ``[hints]`` table: the cashier's hints (issue 12 item 6).

    ``near_percent``: a promotion counts as a near miss when what is missing
    is within this share of its threshold; ``max``: at most this many hints
    on the screen; ``print``: near misses go on the receipt ("next time").
    """

    enabled: bool = True
    near_percent: int = 30
    max: int = 5
    print: bool = False

    @property
    def near_bp(self) -> int:
        """``near_percent`` in the engine's basis points."""
        return self.near_percent * 100


@dataclass(frozen=True)
class TillConfig:
    """The validated configuration of one till."""

    till: str
    store: str
    program: str
    data_dir: Path
    language: str = "ru"
    bundle: Path | None = None
    ledger_url: str | None = None
    ledger_key: str | None = None
    hold_budget_ms: int = 300
    sync_interval_s: float = 5.0
    bootstrap_timeout_s: float = 10.0
    api_host: str = "127.0.0.1"
    api_port: int = 8765
    scanner: str | None = None
    scanner_baud: int = 9600
    camera: str | None = None
    printer: str | None = None
    printer_encoding: str = "cp866"
    log_level: str = "INFO"
    log_file: Path | None = None
    hints: HintSettings = field(default_factory=HintSettings)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "till.sqlite3"

    @property
    def token_path(self) -> Path:
        """The local API token file (till.md §3), mode 0600."""
        return self.data_dir / "api-token"


_NonEmpty = Annotated[str, msgspec.Meta(pattern=r"\S")]


class _TillTable(msgspec.Struct, forbid_unknown_fields=True):
    id: _NonEmpty
    store: _NonEmpty
    program: _NonEmpty
    language: str | None = None


class _PathsTable(msgspec.Struct, forbid_unknown_fields=True):
    data_dir: _NonEmpty
    bundle: str | None = None


class _LedgerTable(msgspec.Struct, forbid_unknown_fields=True):
    url: str | None = None
    key: str | None = None
    key_file: str | None = None
    hold_budget_ms: int | None = None
    sync_interval_s: float | None = None
    bootstrap_timeout_s: float | None = None


class _ApiTable(msgspec.Struct, forbid_unknown_fields=True):
    host: str | None = None
    port: int | None = None


class _ScannerTable(msgspec.Struct, forbid_unknown_fields=True):
    device: str | None = None
    baudrate: int | None = None


class _CameraTable(msgspec.Struct, forbid_unknown_fields=True):
    source: str | None = None


class _PrinterTable(msgspec.Struct, forbid_unknown_fields=True):
    url: str | None = None
    encoding: str | None = None


class _LogTable(msgspec.Struct, forbid_unknown_fields=True):
    level: str | None = None
    file: str | None = None


class _HintsTable(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool | None = None
    near_percent: int | None = None
    max: int | None = None
    print: bool | None = None


class _ConfigFile(msgspec.Struct, forbid_unknown_fields=True):
    """The TOML file's shape: its tables, their keys and types."""

    till: _TillTable
    paths: _PathsTable
    ledger: _LedgerTable = msgspec.field(default_factory=_LedgerTable)
    api: _ApiTable = msgspec.field(default_factory=_ApiTable)
    scanner: _ScannerTable = msgspec.field(default_factory=_ScannerTable)
    camera: _CameraTable = msgspec.field(default_factory=_CameraTable)
    printer: _PrinterTable = msgspec.field(default_factory=_PrinterTable)
    log: _LogTable = msgspec.field(default_factory=_LogTable)
    hints: _HintsTable = msgspec.field(default_factory=_HintsTable)


#: A missing table is named by its first required key, as a missing key is.
_FIRST_KEY = {"till": "till.id", "paths": "paths.data_dir"}
_AT = re.compile(r" - at `\$\.?([^`]*)`$")


def _shape_error(exc: msgspec.ValidationError) -> ConfigError:
    """msgspec's words as the config's: the key first, then what is wrong with it."""
    text = str(exc)
    at = _AT.search(text)
    where = at.group(1) if at else ""
    what = text[:at.start()] if at else text
    if m := re.match(r"Object missing required field `([^`]+)`", what):
        key = f"{where}.{m.group(1)}" if where else _FIRST_KEY.get(m.group(1), m.group(1))
        return ConfigError.at(key, "is required")
    if m := re.match(r"Object contains unknown field `([^`]+)`", what):
        if where:
            return ConfigError.at(f"{where}.{m.group(1)}", "unknown key")
        return ConfigError.at(m.group(1), "unknown section")
    if m := re.match(r"Expected `object`, got `(\w+)`", what):
        return ConfigError.at(where, "must be a table")
    if what.startswith("Expected `str` matching regex"):
        return ConfigError.at(where, "must not be empty")
    if m := re.match(r"Expected `([^`]+)`, got `(\w+)`", what):
        kinds = m.group(1).replace(" | null", "").replace("float", "int/float")
        return ConfigError.at(where, f"must be {kinds}, got {m.group(2)}")
    return ConfigError.at(where or "config", what)


def parse_config(doc: dict[str, Any], base_dir: Path | None = None) -> TillConfig:
    """Validate a parsed TOML document; relative paths are against base_dir.

    The shape (tables, keys, types, required keys) is ``_ConfigFile``; the
    rules between keys and the allowed values are checked here, each naming
    its key.
    """
    base = base_dir or Path.cwd()
    try:
        f = msgspec.convert(doc, _ConfigFile)
    except msgspec.ValidationError as exc:
        raise _shape_error(exc) from exc
    language = f.till.language or DEFAULT_LANGUAGE
    if language not in LANGUAGES:
        raise ConfigError.at("till.language", f"must be one of {', '.join(LANGUAGES)}, got {language!r}")

    def path(value: str | None) -> Path | None:
        return None if value is None else (base / value).resolve()

    led = f.ledger
    key = led.key
    if key and led.key_file:
        raise ConfigError.at("ledger.key_file", "give either ledger.key or ledger.key_file, not both")
    if led.key_file:
        try:
            key = (base / led.key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError.at("ledger.key_file", f"cannot read: {exc.strerror}") from exc
    url = led.url
    if url is not None and not url.startswith(("http://", "https://")):
        raise ConfigError.at("ledger.url", "must start with http:// or https://")
    if url and not key:
        raise ConfigError.at("ledger.key", "is required when ledger.url is set")
    budget = led.hold_budget_ms
    if budget is not None and not 1 <= budget <= 10_000:
        raise ConfigError.at("ledger.hold_budget_ms", "must be between 1 and 10000")
    interval = led.sync_interval_s
    if interval is not None and interval <= 0:
        raise ConfigError.at("ledger.sync_interval_s", "must be > 0")
    bootstrap = led.bootstrap_timeout_s
    if bootstrap is not None and not 0 < bootstrap <= 600:
        raise ConfigError.at("ledger.bootstrap_timeout_s", "must be > 0 and at most 600")
    host = f.api.host or "127.0.0.1"
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise ConfigError.at("api.host", "the POS API listens on the loopback only (127.0.0.1)")
    port = f.api.port
    if port is not None and not 0 <= port <= 65535:
        raise ConfigError.at("api.port", "must be between 0 and 65535")
    printer = f.printer.url
    if printer is not None and not printer.startswith(("tcp://", "usb://", "serial://", "file://")):
        raise ConfigError.at("printer.url", "must be tcp://HOST:PORT, usb://VID:PID, serial:///dev/X or file://PATH")
    encoding = f.printer.encoding or "cp866"
    try:
        "".encode(encoding)
    except LookupError as exc:
        raise ConfigError.at("printer.encoding", f"unknown encoding {encoding!r}") from exc
    level = (f.log.level or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError.at("log.level", "must be DEBUG, INFO, WARNING or ERROR")
    hints = _hints(f.hints)
    data_dir = path(f.paths.data_dir)
    assert data_dir is not None
    return TillConfig(
        till=f.till.id,
        store=f.till.store,
        program=f.till.program,
        data_dir=data_dir,
        language=language,
        bundle=path(f.paths.bundle),
        ledger_url=url,
        ledger_key=key,
        hold_budget_ms=budget if budget is not None else 300,
        sync_interval_s=float(interval) if interval is not None else 5.0,
        bootstrap_timeout_s=float(bootstrap) if bootstrap is not None else 10.0,
        api_host=host,
        api_port=port if port is not None else 8765,
        scanner=f.scanner.device,
        scanner_baud=f.scanner.baudrate if f.scanner.baudrate is not None else 9600,
        camera=f.camera.source,
        printer=printer,
        printer_encoding=encoding,
        log_level=level,
        log_file=path(f.log.file),
        hints=hints,
    )


def _hints(t: _HintsTable) -> HintSettings:
    """The ``[hints]`` table checked: a share of 0..100 %, a count of 0..20."""
    default = HintSettings()
    near = t.near_percent if t.near_percent is not None else default.near_percent
    if not 0 <= near <= 100:
        raise ConfigError.at("hints.near_percent", f"must be between 0 and 100 (percent of the threshold), got {near}")
    most = t.max if t.max is not None else default.max
    if not 0 <= most <= 20:
        raise ConfigError.at("hints.max", f"must be between 0 and 20 (hints on the screen), got {most}")
    return HintSettings(
        enabled=t.enabled if t.enabled is not None else default.enabled,
        near_percent=near, max=most,
        print=t.print if t.print is not None else default.print,
    )


def load_config(path: str | Path) -> TillConfig:
    """Read and validate one till's TOML file."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError.at(str(p), f"cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError.at(str(p), f"not valid TOML: {exc}") from exc
    return parse_config(doc, p.parent)
