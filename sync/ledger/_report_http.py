"""``GET /v1/reports/sync|loyalty|settlement``: the reports over HTTP, head office only.

The same figures as ``kopilka report …`` (``_reports``), for a head-office
key (``kopilka ledger office-key add``); a till key gets 403, no key 401.
Query: ``from``, ``to`` (``YYYY-MM-DD``), ``store`` and ``chain``
(repeatable), ``format`` (``json`` by default, ``csv``, ``html``), and for
the sync report ``silent_hours`` and ``skew_s``. The ledger does not audit
pending sales here: the server's audit worker does that continuously.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from . import _allflags, _reports
from . import _validate as v
from ._errors import RequestError
from ._limits import has_control
from ._errors import ScopeError

Principal = Callable[..., Awaitable[Any]]
_MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8",
          "html": "text/html; charset=utf-8"}
#: the most stores and chains one request may name
MAX_NAMES = 200


def _names(request: Request, key: str) -> tuple[str, ...]:
    values = request.query_params.getlist(key)
    if len(values) > MAX_NAMES or any(len(x) > 200 or not x or has_control(x) for x in values):
        raise RequestError("invalid", f"{key}: at most {MAX_NAMES} names of 1 to 200 "
                           "printable characters", key)
    return tuple(values)


def _ask(request: Request) -> _reports.Ask:
    q = request.query_params
    days = {}
    for key in ("from", "to"):
        text = q.get(key)
        if text is not None and (len(text) != 10 or not text.isascii()):
            raise RequestError("invalid", f"{key} is a day, YYYY-MM-DD", key)
        days[key] = text
    return _reports.Ask(days["from"], days["to"], _names(request, "store"),
                        _names(request, "chain"),
                        v.query_int(q, "silent_hours", _allflags.SILENT_HOURS),
                        v.query_int(q, "skew_s", _allflags.SKEW_S))


def _handler(kind: str) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        from ._app import ledger_of, principal  # _app lists these routes: imported at call time

        await principal(request, "office")
        ledger = ledger_of(request)
        fmt = request.query_params.get("format", "json")
        if fmt not in _MEDIA:
            raise RequestError("invalid", "format is json, csv or html", "format")
        ask = _ask(request)

        def work() -> str:
            try:
                got = _reports.gather(ledger.storage, ledger.clock(), ask,
                                      "all" if kind == "loyalty" and fmt == "html" else kind)
            except ScopeError as exc:
                raise RequestError("invalid", exc.message, exc.field) from exc
            return _reports.render(got, kind, fmt)

        return Response(await run_in_threadpool(work), media_type=_MEDIA[fmt])

    handler.__name__ = handler.__qualname__ = f"report_{kind}"
    return handler


report_sync = _handler("sync")
report_loyalty = _handler("loyalty")
report_settlement = _handler("settlement")

#: ``(path, methods, handler)`` rows for ``_app.ROUTES``
ROUTES = [(f"/v1/reports/{kind}", ("GET",), handler) for kind, handler in (
    ("sync", report_sync), ("loyalty", report_loyalty), ("settlement", report_settlement))]


def _param(name: str, desc: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": desc,
            "schema": schema}


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI entries of the report routes (merged into ``_openapi``)."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    day = {"type": "string", "format": "date"}
    names = {"type": "array", "items": {"type": "string"}, "maxItems": MAX_NAMES}
    common = [_param("from", "first day (default: 6 days before to)", day),
              _param("to", "last day (default: today, UTC)", day),
              _param("store", "only these stores (repeatable)", names),
              _param("chain", "only the stores of these chains (repeatable)", names),
              _param("format", "json (default), csv or html",
                     {"enum": ["json", "csv", "html"]})]
    thresholds = [_param("silent_hours", "flag a till silent longer", {"type": "integer"}),
                  _param("skew_s", "flag a till clock further off", {"type": "integer"})]
    what = {"sync": "Sync health per till, lag and backlog per day and store, every flag",
            "loyalty": "Points, sales, promotions, liability and offline share per day and "
                       "store (format=html: the whole head-office page)",
            "settlement": "What each chain of a shared programme owes another"}
    return {f"/v1/reports/{kind}": {"get": {
        "summary": what[kind] + " (docs/reports.md)", "security": [{"officeKey": []}],
        "parameters": common + (thresholds if kind == "sync" else []),
        "responses": {"200": {"description": "the report", "content": {
            media: {"schema": {"type": "object"} if fmt == "json" else {"type": "string"}}
            for fmt, media in _MEDIA.items()}},
            **{str(code): {"description": text, "content": error} for code, text in (
                (400, "a bad period, store, chain or format"), (401, "no or unknown key"),
                (403, "not a head-office key"))}}}} for kind in _reports.KINDS}

