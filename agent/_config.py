"""One TOML file per till, validated on load.

A store IT person edits this file by hand, so every problem is reported
with the key that is wrong (``ConfigError.field == "ledger.hold_budget_ms"``)
before the daemon touches any device.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import ConfigError
from ._i18n import DEFAULT_LANGUAGE, LANGUAGES


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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "till.sqlite3"

    @property
    def token_path(self) -> Path:
        """The local API token file (till.md §3), mode 0600."""
        return self.data_dir / "api-token"


_SCHEMA: dict[str, dict[str, tuple[type | tuple[type, ...], bool]]] = {
    "till": {"id": (str, True), "store": (str, True), "program": (str, True), "language": (str, False)},
    "paths": {"data_dir": (str, True), "bundle": (str, False)},
    "ledger": {"url": (str, False), "key": (str, False), "key_file": (str, False),
               "hold_budget_ms": (int, False), "sync_interval_s": ((int, float), False),
               "bootstrap_timeout_s": ((int, float), False)},
    "api": {"host": (str, False), "port": (int, False)},
    "scanner": {"device": (str, False), "baudrate": (int, False)},
    "camera": {"source": (str, False)},
    "printer": {"url": (str, False), "encoding": (str, False)},
    "log": {"level": (str, False), "file": (str, False)},
}


def _get(doc: dict[str, Any], section: str, key: str) -> Any:
    kinds, required = _SCHEMA[section][key]
    table = doc.get(section, {})
    if key not in table:
        if required:
            raise ConfigError.at(f"{section}.{key}", "is required")
        return None
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, kinds):
        names = kinds.__name__ if isinstance(kinds, type) else "/".join(k.__name__ for k in kinds)
        raise ConfigError.at(f"{section}.{key}", f"must be {names}, got {type(value).__name__}")
    if isinstance(value, str) and required and not value.strip():
        raise ConfigError.at(f"{section}.{key}", "must not be empty")
    return value


def parse_config(doc: dict[str, Any], base_dir: Path | None = None) -> TillConfig:
    """Validate a parsed TOML document; relative paths are against base_dir."""
    base = base_dir or Path.cwd()
    for section, table in doc.items():
        if section not in _SCHEMA:
            raise ConfigError.at(section, "unknown section")
        if not isinstance(table, dict):
            raise ConfigError.at(section, "must be a table")
        for key in table:
            if key not in _SCHEMA[section]:
                raise ConfigError.at(f"{section}.{key}", "unknown key")

    till, store, program = (_get(doc, "till", k) for k in ("id", "store", "program"))
    language = _get(doc, "till", "language") or DEFAULT_LANGUAGE
    if language not in LANGUAGES:
        raise ConfigError.at("till.language", f"must be one of {', '.join(LANGUAGES)}, got {language!r}")

    def path(value: str | None) -> Path | None:
        return None if value is None else (base / value).resolve()

    key = _get(doc, "ledger", "key")
    key_file = _get(doc, "ledger", "key_file")
    if key and key_file:
        raise ConfigError.at("ledger.key_file", "give either ledger.key or ledger.key_file, not both")
    if key_file:
        try:
            key = (base / key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError.at("ledger.key_file", f"cannot read: {exc.strerror}") from exc
    url = _get(doc, "ledger", "url")
    if url is not None and not url.startswith(("http://", "https://")):
        raise ConfigError.at("ledger.url", "must start with http:// or https://")
    if url and not key:
        raise ConfigError.at("ledger.key", "is required when ledger.url is set")
    budget = _get(doc, "ledger", "hold_budget_ms")
    if budget is not None and not 1 <= budget <= 10_000:
        raise ConfigError.at("ledger.hold_budget_ms", "must be between 1 and 10000")
    interval = _get(doc, "ledger", "sync_interval_s")
    if interval is not None and interval <= 0:
        raise ConfigError.at("ledger.sync_interval_s", "must be > 0")
    bootstrap = _get(doc, "ledger", "bootstrap_timeout_s")
    if bootstrap is not None and not 0 < bootstrap <= 600:
        raise ConfigError.at("ledger.bootstrap_timeout_s", "must be > 0 and at most 600")
    host = _get(doc, "api", "host") or "127.0.0.1"
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise ConfigError.at("api.host", "the POS API listens on the loopback only (127.0.0.1)")
    port = _get(doc, "api", "port")
    if port is not None and not 0 <= port <= 65535:
        raise ConfigError.at("api.port", "must be between 0 and 65535")
    printer = _get(doc, "printer", "url")
    if printer is not None and not printer.startswith(("tcp://", "usb://", "serial://", "file://")):
        raise ConfigError.at("printer.url", "must be tcp://HOST:PORT, usb://VID:PID, serial:///dev/X or file://PATH")
    encoding = _get(doc, "printer", "encoding") or "cp866"
    try:
        "".encode(encoding)
    except LookupError as exc:
        raise ConfigError.at("printer.encoding", f"unknown encoding {encoding!r}") from exc
    level = (_get(doc, "log", "level") or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError.at("log.level", "must be DEBUG, INFO, WARNING or ERROR")
    baud = _get(doc, "scanner", "baudrate")
    data_dir = path(_get(doc, "paths", "data_dir"))
    assert data_dir is not None
    return TillConfig(
        till=till,
        store=store,
        program=program,
        data_dir=data_dir,
        language=language,
        bundle=path(_get(doc, "paths", "bundle")),
        ledger_url=url,
        ledger_key=key,
        hold_budget_ms=budget if budget is not None else 300,
        sync_interval_s=float(interval) if interval is not None else 5.0,
        bootstrap_timeout_s=float(bootstrap) if bootstrap is not None else 10.0,
        api_host=host,
        api_port=port if port is not None else 8765,
        scanner=_get(doc, "scanner", "device"),
        scanner_baud=baud if baud is not None else 9600,
        camera=_get(doc, "camera", "source"),
        printer=printer,
        printer_encoding=encoding,
        log_level=level,
        log_file=path(_get(doc, "log", "file")),
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
