"""The run store's read API: the typed records front ends and reports read, and how a failed
read is worded. Half of :class:`genet_lab.evolution.store.RunStore` (a mixin: the store holds the
connection, the schema and every write); split off by Optuna's storage/queries line.

Knows sqlite3 and JSON only: no torch, no numpy. With :mod:`genet_lab.evolution.store`, the only
code that speaks SQL.
"""

from __future__ import annotations

import functools
import json
import math
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from genet_lab.errors import ConfigError, UsageError, show
from genet_lab.evolution import events as ev
from genet_lab.evolution.records import GenerationStats, Individual, RunStatus
from genet_lab.evolution.strategies import KINDS

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="StoreQueries")


_CODES = {
    sqlite3.SQLITE_BUSY: "busy",
    sqlite3.SQLITE_LOCKED: "busy",
    sqlite3.SQLITE_FULL: "full",
    sqlite3.SQLITE_IOERR: "full",
    sqlite3.SQLITE_READONLY: "readonly",
}
"""SQLite's primary result codes this module treats apart (an extended code's low byte is its
primary code): a busy database waits, a full disk or failed write and a read-only store get their
own one-line message."""


def _sqlite_kind(exc: sqlite3.Error) -> str | None:
    """``busy``, ``full``, ``readonly`` or None for any other error (see :data:`_CODES`), from the
    error's SQLite result code, never from its text (every error SQLite raises carries one)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else _CODES.get(code & 0xFF)


def _transient(exc: sqlite3.Error) -> bool:
    """A busy or locked database: the next poll may succeed (a watcher waits, it does not give up)."""
    return isinstance(exc, sqlite3.OperationalError) and _sqlite_kind(exc) == "busy"


def _reading(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """A reader of the store: a damaged database or stored text that is not JSON becomes one
    :class:`UsageError` naming the file (a busy database stays ``sqlite3.OperationalError``)."""

    @functools.wraps(method)
    def wrapper(self: S, *args: P.args, **kw: P.kwargs) -> R:
        try:
            return method(self, *args, **kw)
        except sqlite3.DatabaseError as exc:
            if _transient(exc) or type(exc) not in (sqlite3.DatabaseError, sqlite3.OperationalError):
                raise
            if _sqlite_kind(exc) == "full":
                raise self._disk_error(exc) from None
            raise UsageError(self._damaged(exc)) from None
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"{show(self.db)} is damaged: a stored value is not valid JSON ({exc}); restore the run from a copy"
            ) from None

    return wrapper


OPS = ("init", "selection", "crossover", "mutation", "random")
STATES = ("pending", "running", "done", "failed")
"""An individual's operations and an evaluation's states (the store's schema checks them too)."""


class _BadRow(Exception):
    """One stored value that is not what the store writes: (column, value, what is accepted)."""

    def __init__(self, column: str, value: object, accepted: str):
        super().__init__(column)
        self.column, self.value, self.accepted = column, value, accepted


def _number(column: str, value: object, *, none: bool = True) -> float | None:
    """A stored REAL: a finite int or float (None where ``none``)."""
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _BadRow(column, value, "a finite number" + (" or NULL" if none else ""))
    return float(value)


def _integer(column: str, value: object, *, none: bool = True, low: int | None = 0) -> int | None:
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low):
        raise _BadRow(
            column, value, "an integer" + (f" >= {low}" if low is not None else "") + (" or NULL" if none else "")
        )
    return value


def _text(column: str, value: object, *, none: bool = True, among: tuple[str, ...] = ()) -> str | None:
    if value is None and none:
        return None
    if not isinstance(value, str) or (among and value not in among):
        raise _BadRow(column, value, f"one of {', '.join(among)}" if among else "text")
    return value


def _individual(d: dict[str, Any], finished: bool) -> Individual:
    """One joined individuals/evaluations row as an :class:`Individual`, every field checked."""
    parents = json.loads(d["parents"]) if isinstance(d["parents"], str) else d["parents"]
    if not isinstance(parents, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in parents):
        raise _BadRow("parents", d["parents"], "a JSON list of indices")
    bits = _text("bits", d["bits"], none=False)
    if not set(bits or "") <= {"0", "1"}:
        raise _BadRow("bits", bits, "a string of 0s and 1s")
    genome = _text("genome", d["genome"], none=False) or ""
    stages = [stage.split("-") for stage in genome.split()]
    if not stages or not all(
        len(part) == i + 1 and set(part) <= {"0", "1"} for parts in stages for i, part in enumerate(parts)
    ):
        raise _BadRow("genome", genome, "a genome in the paper's notation (e.g. 1-01 0-01-100)")
    state = _text("state", d["state"], none=False, among=STATES)
    accuracy = _number("accuracy", d["accuracy"], none=state not in ("done", "failed"))
    return Individual(
        gen=_integer("gen", d["gen"], none=False) or 0,
        index=_integer("index", d["index"], none=False) or 0,
        genome=genome,
        bits=bits or "",
        parents=tuple(parents),
        op=_text("op", d["op"], none=False, among=OPS) or "",
        changed=bool(_integer("changed", d["changed"], none=False)),
        fitness=_number("fitness", d["fitness"], none=not finished),
        structure_key=_text("structure_key", d["structure_key"], none=False) or "",
        params=_integer("params", d["params"]),
        macs=_integer("macs", d["macs"]),
        state=state or "",
        accuracy=accuracy,
        loss=_number("loss", d["loss"]),
        seconds=_number("seconds", d["seconds"]),
        device=_text("device", d["device"]),
        reused=bool(_integer("reused", d["reused"], none=False)),
        error=_text("error", d["error"]),
        seed=_integer("seed", d["seed"], none=False, low=None) or 0,
        test_accuracy=_number("test_accuracy", d["test_accuracy"]),
    )


def _generation(d: dict[str, Any]) -> GenerationStats:
    finished = _number("finished", d["finished"])
    stats = {k: _number(k, d[k], none=finished is None) for k in ("max", "min", "mean", "median", "std")}
    return GenerationStats(
        gen=_integer("gen", d["gen"], none=False) or 0,
        **stats,
        best=_text("best", d["best"]),
        best_index=_integer("best_index", d["best_index"]),
        evaluations=_integer("evaluations", d["evaluations"]),
        reused=_integer("reused", d["reused"]),
        started=_number("started", d["started"], none=False) or 0.0,
        finished=finished,
    )


class StoreQueries:
    """The read API of a run store; :class:`~genet_lab.evolution.store.RunStore` provides the
    connection (``conn``), the paths, the schema version and the two messages below."""

    db: Path
    dir: Path
    version: int

    if TYPE_CHECKING:

        @property
        def conn(self) -> sqlite3.Connection: ...

        def _disk_error(self, exc: sqlite3.Error) -> ConfigError: ...
        def _damaged(self, exc: object) -> str: ...
        def writer_alive(self) -> bool: ...

    def _bad_row(self, where: str, bad: _BadRow) -> UsageError:
        value = bad.value if not isinstance(bad.value, str) else show(bad.value)[:60]
        return UsageError(
            f"{show(self.db)} is damaged: {where} has {bad.column} {value!r}, expected {bad.accepted}; "
            "restore the run from a copy (or correct that row)"
        )

    def _run_row(self) -> sqlite3.Row:
        row = self.conn.execute("SELECT * FROM run WHERE id=1").fetchone()
        if row is None:
            raise UsageError(self._damaged("it holds no run record"))
        return row

    def _stored_config(self, row: sqlite3.Row) -> dict[str, Any]:
        try:
            cfg = json.loads(row["config"])
        except (TypeError, json.JSONDecodeError) as exc:
            raise UsageError(
                f"{show(self.db)} is damaged: its stored config is not valid JSON ({exc}); restore the run from a copy"
            ) from None
        if not isinstance(cfg, dict):
            raise UsageError(
                f"{show(self.db)} is damaged: its stored config is not a JSON object; restore the run from a copy"
            )
        try:
            _integer("population", cfg.get("population"), none=False, low=1)
            _integer("generations", cfg.get("generations"), none=False)
            _text("kind", row["kind"], none=False, among=KINDS)
            _integer("seed", row["seed"], none=False, low=None)
        except _BadRow as bad:
            raise self._bad_row("the run record (its config)", bad) from None
        return cfg

    @_reading
    def config(self) -> dict[str, Any]:
        """The search config as stored (see ``SearchConfig.to_dict``), plus ``kind`` and ``seed``."""
        row = self._run_row()
        return {**self._stored_config(row), "kind": row["kind"], "seed": row["seed"]}

    @_reading
    def data_fingerprint(self) -> dict[str, Any] | None:
        """The fingerprint of the data set the run measures on (None: not recorded, or toy fitness)."""
        if self.version < 3:
            return None
        text = self._run_row()["data"]
        data = None if text is None else json.loads(text)
        if data is not None and not isinstance(data, dict):
            raise self._bad_row("the run record", _BadRow("data", text, "a JSON object or NULL"))
        return data

    @_reading
    def generations(self, finished_only: bool = True) -> list[GenerationStats]:
        """Per-generation statistics of fitness (Table 1's columns), oldest first; the
        unfinished generation too when ``finished_only`` is False (its statistics None)."""
        q = (
            "SELECT gen, max, min, mean, median, std, best, best_index, evaluations, reused, started, finished"
            " FROM generations"
        )
        if finished_only:
            q += " WHERE finished IS NOT NULL"
        out = []
        for r in self.conn.execute(q + " ORDER BY gen"):
            try:
                out.append(_generation(dict(r)))
            except _BadRow as bad:
                raise self._bad_row(f"generations row {r['gen']!r}", bad) from None
        return out

    @_reading
    def rng_state(self, gen: int) -> dict[str, Any]:
        row = self.conn.execute("SELECT rng_state FROM generations WHERE gen=?", (gen,)).fetchone()
        if row is None:
            raise KeyError(f"no generation {gen}")
        state = json.loads(row[0]) if isinstance(row[0], str) else None
        if not isinstance(state, dict):
            raise self._bad_row(f"generations row {gen}", _BadRow("rng_state", row[0], "a JSON object"))
        return state

    @_reading
    def individuals(self, gen: int | None = None) -> list[Individual]:
        """Individuals with their evaluation, by generation then index (see :class:`Individual`)."""
        q = (
            "SELECT i.gen, i.idx AS 'index', i.genome, i.bits, i.parents, i.op, i.changed, i.fitness,"
            " i.structure_key, i.params, i.macs, e.state, e.accuracy, e.loss, e.seconds, e.device, e.reused,"
            f" e.error, e.seed, {'e.test_accuracy' if self.version >= 2 else 'NULL AS test_accuracy'}"
            " FROM individuals i JOIN evaluations e ON e.gen=i.gen AND e.idx=i.idx"
        )
        args: tuple[int, ...] = ()
        if gen is not None:
            q += " WHERE i.gen=?"
            args = (gen,)
        finished = {
            g for (g,) in self.conn.execute("SELECT gen FROM generations WHERE finished IS NOT NULL") if g is not None
        }
        out = []
        for r in self.conn.execute(q + " ORDER BY i.gen, i.idx", args):
            d = dict(r)
            try:
                out.append(_individual(d, d["gen"] in finished))
            except _BadRow as bad:
                raise self._bad_row(f"individual {d['gen']!r}:{d['index']!r}", bad) from None
        return out

    @_reading
    def evaluation_counts(self) -> tuple[int, int]:
        """(trained, reused) evaluations of the whole run (a pending one counts as trained)."""
        trained, reused = self.conn.execute(
            "SELECT COUNT(*) FILTER (WHERE reused=0), COUNT(*) FILTER (WHERE reused=1) FROM evaluations"
        ).fetchone()
        return int(trained), int(reused)

    @_reading
    def evaluation_log(self) -> dict[tuple[int, int], tuple[str, float | None, float | None]]:
        """(gen, index) -> (state, accuracy, finished time) of every evaluation: what a check that
        a finished evaluation never changes compares."""
        return {
            (g, i): (state, acc, fin)
            for g, i, state, acc, fin in self.conn.execute(
                "SELECT gen, idx, state, accuracy, finished FROM evaluations"
            )
        }

    @_reading
    def integrity(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``ok`` for an intact database."""
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])

    @_reading
    def events_since(self, seq: int = 0, limit: int | None = None) -> list[tuple[int, object]]:
        """Stored events with sequence number > ``seq``, as (seq, event dataclass)."""
        q = "SELECT seq, data FROM events WHERE seq>? ORDER BY seq"
        if limit is not None:
            q += f" LIMIT {int(limit)}"
        out = []
        for s, d in self.conn.execute(q, (seq,)):
            try:
                out.append((s, ev.from_dict(json.loads(d))))
            except (TypeError, ValueError, AttributeError) as exc:
                raise self._bad_row(f"event {s!r}", _BadRow("data", d, f"a stored event ({exc})")) from None
        return out

    @_reading
    def status(self) -> RunStatus:
        """Where the run stands (see :class:`RunStatus`); ``state`` is 'stopped' for an
        unfinished run with no writer."""
        run = self._run_row()
        cfg = self._stored_config(run)
        n, t = cfg.get("population"), cfg.get("generations")
        done = self.conn.execute("SELECT COUNT(*) FROM evaluations WHERE state IN ('done', 'failed')").fetchone()[0]
        last = self.conn.execute("SELECT MAX(gen) FROM generations").fetchone()[0]
        best = self.conn.execute(
            "SELECT genome, fitness FROM individuals WHERE fitness IS NOT NULL ORDER BY fitness DESC, gen, idx LIMIT 1"
        ).fetchone()
        state = run["state"]
        try:
            _text("state", state, none=False, among=("running", "finished"))
            if best:
                _number("fitness", best["fitness"], none=False)
        except _BadRow as bad:
            where = "the run record" if bad.column == "state" else f"individual {best['genome']!r}"
            raise self._bad_row(where, bad) from None
        if state == "running" and not self.writer_alive():
            state = "stopped"
        return RunStatus(
            state=state,
            kind=run["kind"],
            gen=last,
            generations=t,
            population=n,
            evaluations_done=done,
            evaluations_total=n * (t + 1) if n and t is not None else None,
            best=best["genome"] if best else None,
            best_fitness=best["fitness"] if best else None,
        )
