"""Per-user features as of cutoff dates, from events at or before each cutoff only.

One row per (user_id, as_of). Computed in DuckDB over the events (a Parquet file or a
frame), so the event log never has to fit in one pandas frame. Events are first folded
into per-user daily totals; every window is then a filter on those days with
``day <= as_of``, which is what makes the features leak-free by construction.
Works on purchase-only logs (session and activation features are then zero/null)
and on richer event logs alike.

Cutoffs are dates: ``as_of`` is midnight UTC and features see events with
``event_time <= as_of``. Daily totals are keyed by the end of their day, so a day that
ends at or before ``as_of`` is wholly in the past and no event after ``as_of`` is read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from features import contract as c
from features.duckdb_memory import DEFAULT_MEMORY_LIMIT, bounded, connect
from features.event_types import is_activity
from features.identifiers import metadata, not_features_of, table_not_features
from features.orders import cancelled_by, cancelled_sql, money, orders_sql
from lifecycle.errors import UserError
from lifecycle.sql import identifier, literal
from lifecycle.words import word_for

if TYPE_CHECKING:  # DuckDB runs the builds; serving imports this module for its names only
    import duckdb

AS_OF = "as_of"  # the feature row's timestamp: features use events with event_time <= as_of
# Feature names by group (window features are expanded per window in ``feature_names``).
WINDOW_FEATURES = (
    "active_days",
    "sessions",
    "orders",
    "revenue",
    "refunds",
    "refund_amount",
    # orders refunded in full in the window (by the refund's day, as refunds are counted):
    # no refund in the two before, what the refund words add (serving.unkept_words)
    "cancelled_orders",
)
TOTAL_FEATURES = (
    "tenure_days",
    "recency_days",
    "purchase_recency_days",
    "first_purchase_age_days",
    "orders_total",
    "revenue_total",
    "refund_amount_total",
    "net_revenue_total",
    "avg_order_value",
    "net_order_value",
    "max_order_value",
    "ipt_mean_days",
    "ipt_std_days",
    "sessions_total",
    "activated",
    "days_to_activation",
    "trend_active_days_30_90",
    "trend_orders_90_365",
    "overdue_ratio",
    "refund_rate",
    # orders refunded in full by the cutoff (features.orders.cancelled_sql): no order in
    # the counts above, yet what the reasons say happened (online_retail 12346)
    "cancelled_orders_total",
)


# The one total that can be below 0: refunds of purchases made before the log began.
SIGNED_FEATURES = ("net_revenue_total",)
# Counts of things (whole numbers), windowed (``<name>_<days>d``) or in all.
COUNTED_WINDOW_FEATURES = ("active_days", "sessions", "orders", "refunds", "cancelled_orders")
# What an order cancelled by a refund of its whole value no longer adds, and by whose day
CANCELLED_WINDOW_FEATURES = {
    "orders": ("1", "order_time"),
    "revenue": ("k.value", "order_time"),
    "refunds": ("1", "refund_time"),
    "refund_amount": ("k.value", "refund_time"),
}
# Features the models read and never learn from (``training.models.fit_bundle`` leaves them
# empty in every row the trees learn from): what the reasons' words say (serving.unkept_words).
# As a model input the count of orders refunded in full made online_retail's 2011-09-09
# backtest worse (LTV Spearman 0.523 -> 0.517, conversion AUC 0.563 -> 0.561).
WORDS_ONLY = ("cancelled_orders_total",)
WORDS_ONLY_WINDOWS = ("cancelled_orders",)  # each window's (``<name>_<days>d``), the same
COUNTED_TOTALS = ("orders_total", "sessions_total", "activated", "cancelled_orders_total")


# A user seen for the first time: nothing counted yet, known for no time, the rest unknown.
NEW_USER_ZEROS = (
    "tenure_days",
    "recency_days",
    "orders_total",
    "revenue_total",
    "refund_amount_total",
    "net_revenue_total",
    "sessions_total",
    "activated",
    "cancelled_orders_total",
)


@lru_cache(maxsize=4096)  # asked for every reason a list or answer words
def window_of(name: str) -> tuple[str, int] | None:
    """(feature, days) of a windowed feature's name such as ``sessions_30d`` (as
    :func:`feature_names` makes them); None for any other name."""
    feature, _, days = name.rpartition("_")
    if feature and days.endswith("d") and days[:-1].isdigit():
        return feature, int(days[:-1])
    return None


def trend_windows(windows: Sequence[int]) -> dict[str, tuple[int, int]]:
    """The (shorter, longer) windows each pace trend compares: named for the default windows
    (7, 30, 90, 365), the nearest the settings have otherwise."""
    windows = sorted(windows)
    mid = 90 if 90 in windows else windows[len(windows) // 2]
    return {
        "trend_active_days_30_90": (30 if 30 in windows else windows[0], mid),
        "trend_orders_90_365": (mid, max(windows)),
    }


def windows_read(name: str, windows: Sequence[int]) -> tuple[int, ...]:
    """The windows (days) a feature counts over: a windowed one's, a trend's two; none for a
    lifetime total."""
    window = window_of(name)
    if window is not None and window[0] in WINDOW_FEATURES:
        return (window[1],)
    return trend_windows(windows).get(name, ())


def is_feature_name(name: str) -> bool:
    """Whether the feature table has a column so named with some windows: a users attribute
    of that name would clash with it whatever ``features.windows`` is set to."""
    window = window_of(name)
    return name in (AS_OF, *TOTAL_FEATURES) or (window is not None and window[0] in WINDOW_FEATURES)


def new_user_value(name: str) -> float | None:
    """A feature's value for a brand-new user (cold start): 0 for counts, None if unknown."""
    window = window_of(name)
    counted = window is not None and window[0] in WINDOW_FEATURES
    return 0.0 if counted or name in NEW_USER_ZEROS else None


def words_only(name: str) -> bool:
    """Whether a feature is read for the reasons' words only (:data:`WORDS_ONLY`, and each
    window of :data:`WORDS_ONLY_WINDOWS`): no model learns from it, drift does not judge it."""
    window = window_of(name)
    return name in WORDS_ONLY or (window is not None and window[0] in WORDS_ONLY_WINDOWS)


class FeatureError(UserError):
    """Feature engineering cannot run on this input; the message says why."""


def feature_names(windows: Sequence[int]) -> list[str]:
    """All numeric feature names, in table order."""
    return [f"{name}_{w}d" for w in windows for name in WINDOW_FEATURES] + list(TOTAL_FEATURES)


def _relation(con: duckdb.DuckDBPyConnection, name: str, table: pd.DataFrame | Path) -> None:
    if isinstance(table, pd.DataFrame):
        con.register(f"{name}_frame", table)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {name}_frame")
    else:
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM read_parquet({literal(table)})"
        )


def compute_features(
    events: pd.DataFrame | Path,
    cutoffs: Sequence[pd.Timestamp | str],
    *,
    users: pd.DataFrame | Path | None = None,
    windows: Sequence[int] = (7, 30, 90, 365),
    out: Path | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    allow: Sequence[str] = (),
    exclude: Sequence[str] = (),
    not_activity_types: Sequence[str] = (),
    check: Callable[[list[str]], None] | None = None,
) -> pd.DataFrame | None:
    """Features for every user known at each cutoff (signed up or seen by then); events of
    ``not_activity_types`` (``labels.not_activity_types``) are no activity (:func:`not_activity`).

    Returns the table, or writes it to ``out`` (Parquet) and returns None, which keeps
    memory bounded for large logs; its metadata then names the users attributes that are no
    model input (:mod:`features.identifiers`, with ``features.allow_attributes`` and
    ``exclude_attributes``). ``check`` reads the table's columns before a row is computed
    (raising stops it there).
    """
    if len(cutoffs) == 0:
        raise FeatureError("no cutoff dates given")
    windows = sorted({int(w) for w in windows})
    if not windows or windows[0] <= 0:
        raise FeatureError(f"feature windows must be positive day counts, got {windows}")
    con = con or connect()
    _relation(con, "events", events)
    n_events, first_event = con.execute("SELECT count(*), min(event_time) FROM events").fetchone()
    if not n_events:
        raise FeatureError("the events table is empty: nothing to compute features from")
    stamps = sorted({_utc(t) for t in cutoffs})
    off_midnight = [t for t in stamps if t != t.normalize()]
    if off_midnight:
        raise FeatureError(f"cutoffs must be dates (midnight UTC), got {off_midnight[0]}")
    if stamps[0] < _utc(first_event):
        raise FeatureError(
            f"cutoff {stamps[0]:%Y-%m-%d} is before the first event ({_utc(first_event):%Y-%m-%d %H:%M}); "
            "features there would be empty"
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE cutoffs AS SELECT UNNEST($1::TIMESTAMPTZ[]) AS as_of",
        [[t.to_pydatetime() for t in stamps]],
    )
    user_columns = _users_view(con, users)
    clashing = sorted(name for name in user_columns if is_feature_name(name))
    if clashing:  # DuckDB's 'Ambiguous reference to column name' traceback otherwise
        table = f"the users table {users}" if isinstance(users, Path) else "the users table"
        raise FeatureError(
            f"{table} has {word_for(len(clashing), ('a column', 'columns'))} named as the "
            "feature table's own: "
            f"{', '.join(clashing)}; rename them in the users file and ingest it again"
        )
    has_order_id = c.ORDER_ID in {row[0] for row in con.execute("DESCRIBE events").fetchall()}
    numeric = ", ".join(f"{name}::DOUBLE AS {name}" for name in feature_names(windows))
    sql = f"SELECT * REPLACE ({numeric}) FROM ({_feature_sql(windows, user_columns, has_order_id, not_activity_types)})"
    if check is not None:  # from the query's plan: a refused build costs no feature computed
        check([row[0] for row in con.execute(f"DESCRIBE {sql}").fetchall()])
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        # a first name, an email: kept in the table (lists), never a model's feature
        left_out = table_not_features(con, "users_raw", allow, exclude) if user_columns else {}
        said = ", ".join(f"{literal(k)}: {literal(v)}" for k, v in metadata(left_out).items())
        con.execute(f"COPY ({sql}) TO {literal(out)} (FORMAT parquet, KV_METADATA {{{said}}})")
        return None
    frame = con.execute(sql).df()
    frame[AS_OF] = frame[AS_OF].dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    return frame


def cutoff_grid(
    first_event: pd.Timestamp, last_event: pd.Timestamp, frequency: str = "7D"
) -> list[pd.Timestamp]:
    """Regular cutoffs after the first event, plus today's (:attr:`EventSpan.latest_cutoff`).

    A fixed-length frequency (``7D``) counts back from that scoring date, so whatever the
    horizon, the freshest matured cutoff is less than one step older than the horizon: a
    model learns from customers as old as the ones it scores. A calendar frequency (``MS``)
    uses calendar dates.
    """
    first, last = _utc(first_event), _utc(last_event)
    start = first.normalize() + pd.Timedelta(days=1)
    serving = EventSpan(first, last).latest_cutoff
    offset = pd.tseries.frequencies.to_offset(frequency)
    if isinstance(offset, pd.offsets.Tick):
        steps = int((serving - start) // pd.Timedelta(offset))
        return [serving - k * pd.Timedelta(offset) for k in range(steps, -1, -1)]
    grid = pd.date_range(start, last, freq=frequency)
    return sorted({*(_utc(t) for t in grid), serving})


def build_feature_table(
    events: Path,
    users: Path | None,
    out: Path,
    *,
    windows: Sequence[int],
    frequency: str = "MS",
    extra_cutoffs: Sequence[pd.Timestamp | str] = (),
    memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
    check: Callable[[list[str]], None] | None = None,
    allow: Sequence[str] = (),
    exclude: Sequence[str] = (),
    not_activity_types: Sequence[str] = (),
) -> dict[str, object]:
    """Compute the dataset's feature table at its cutoff grid (plus ``extra_cutoffs``, e.g. a
    scoring date) and replace ``out`` atomically; DuckDB spills beyond ``memory_limit``.
    ``check`` reads the new table's columns before any is computed (raising keeps ``out``).
    ``allow``, ``exclude``: the settings ``features.allow_attributes``, ``exclude_attributes``;
    ``not_activity_types``: ``labels.not_activity_types``."""
    import pyarrow.parquet as pq

    from lifecycle import lineage
    from lifecycle.storage import atomic_file

    with bounded(connect(), memory_limit, out) as con:
        _relation(con, "events", events)
        first, last = con.execute(
            f"SELECT min({c.EVENT_TIME}), max({c.EVENT_TIME}) FROM events"
        ).fetchone()
        if first is None:
            raise FeatureError(f"{events}: the events table is empty")
        cutoffs = sorted({*cutoff_grid(first, last, frequency), *(_utc(t) for t in extra_cutoffs)})
        with atomic_file(out) as staging:
            compute_features(
                events,
                cutoffs,
                users=users,
                windows=windows,
                out=staging,
                con=con,
                allow=allow,
                exclude=exclude,
                not_activity_types=not_activity_types,
                check=check,
            )
        rows, users_n = con.execute(
            f"SELECT count(*), count(DISTINCT {c.USER_ID}) FROM read_parquet({literal(out)})"
        ).fetchone()
    # What it was built from: a step reading it refuses when the dataset has moved on.
    lineage.record(
        out,
        {
            **lineage.dataset_lineage(Path(events).parent),
            "settings_hash": lineage.features_digest(
                windows, frequency, allow, exclude, not_activity_types
            ),
        },
    )

    return {
        "path": str(out),
        "rows": rows,
        "users": users_n,
        # users attributes that are no model input (a first name, an email), and why
        "not_features": list(left_out := not_features_of(pq.read_schema(out))),
        "not_feature_reasons": left_out,
        "cutoffs": [f"{t:%Y-%m-%d}" for t in cutoffs],
        "first_event": str(_utc(first)),
        "last_event": str(_utc(last)),
    }


@dataclass(frozen=True)
class EventSpan:
    """The first and last event of a dataset, in UTC, and the cutoffs they allow."""

    first: pd.Timestamp
    last: pd.Timestamp

    @property
    def earliest_cutoff(self) -> pd.Timestamp:
        """The first midnight not before the first event (an earlier one has no features)."""
        return self.first.ceil("D")

    @property
    def latest_cutoff(self) -> pd.Timestamp:
        """Today's: the first midnight not before the last event (a later one would read as
        today a date no data reaches). An event at exactly midnight is of the cutoff it
        meets, so on a log of dates only (every event at midnight) today's cutoff is its last
        date: the next export's first day falls after it, in the outcomes' horizon, not in a
        day the scores counted without having seen it."""
        return self.last.ceil("D")


def event_span(events: Path) -> EventSpan:
    """The span of a dataset's events table."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    bounds = pc.min_max(pq.read_table(events, columns=[c.EVENT_TIME])[c.EVENT_TIME]).as_py()
    return EventSpan(_utc(bounds["min"]), _utc(bounds["max"]))


def feature_cutoffs(feature_table: Path) -> list[pd.Timestamp]:
    """The as-of dates a feature table has rows for, oldest first, in UTC."""
    if not feature_table.is_file():
        raise FeatureError(
            f"no feature table at {feature_table}: run `lifecycle features build` first"
        )
    import duckdb

    try:
        rows = duckdb.sql(
            f"SELECT DISTINCT {AS_OF} FROM read_parquet({literal(feature_table)}) ORDER BY 1"
        ).fetchall()
    except duckdb.Error as error:  # cut short (a disk full), or no feature table at all
        raise FeatureError(
            f"{feature_table}: the feature table cannot be read "
            f"({str(error).splitlines()[0][:200]}): rebuild it with `lifecycle features build`"
        ) from None
    return [_utc(row[0]) for row in rows]


def _utc(value: pd.Timestamp | str | object) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _users_view(con: duckdb.DuckDBPyConnection, users: pd.DataFrame | Path | None) -> list[str]:
    """The users relation (id, sign-up time, channel, attributes); derived from events if absent."""
    if users is None:
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW users AS SELECT DISTINCT {c.USER_ID}, "
            f"NULL::TIMESTAMPTZ AS {c.SIGNUP_TIME}, NULL::VARCHAR AS {c.CHANNEL} FROM events"
        )
        return []
    _relation(con, "users_raw", users)
    columns = [row[0] for row in con.execute("DESCRIBE users_raw").fetchall()]
    signup = c.SIGNUP_TIME if c.SIGNUP_TIME in columns else f"NULL::TIMESTAMPTZ AS {c.SIGNUP_TIME}"
    channel = c.CHANNEL if c.CHANNEL in columns else f"NULL::VARCHAR AS {c.CHANNEL}"
    attributes = [col for col in columns if col not in (c.USER_ID, c.SIGNUP_TIME, c.CHANNEL)]
    typed = [f"{identifier(a)}::VARCHAR AS {identifier(a)}" for a in attributes]
    selected = ", ".join([c.USER_ID, signup, channel, *typed])
    # Users seen only in events still get a row (no sign-up time, no channel).
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW users AS
        SELECT {selected} FROM users_raw
        UNION ALL BY NAME
        SELECT DISTINCT e.{c.USER_ID} FROM events e ANTI JOIN users_raw u USING ({c.USER_ID})"""
    )
    return attributes


def _feature_sql(
    windows: Sequence[int],
    attributes: Sequence[str],
    has_order_id: bool,
    not_activity_types: Sequence[str] = (),
) -> str:
    u, t, ty, amt = c.USER_ID, c.EVENT_TIME, c.EVENT_TYPE, c.AMOUNT
    active = is_activity(ty, not_activity_types)
    window_sql = []
    for w in windows:
        since = f"d.day_end > p.since_{w}d"
        window_sql += [
            f"count(*) FILTER (WHERE {since} AND d.active) AS active_days_{w}d",
            f"coalesce(sum(d.sessions) FILTER (WHERE {since}), 0) AS sessions_{w}d",
            f"coalesce(sum(d.orders) FILTER (WHERE {since}), 0) AS orders_{w}d",
            f"coalesce(sum(d.revenue) FILTER (WHERE {since}), 0) AS revenue_{w}d",
            f"coalesce(sum(d.refunds) FILTER (WHERE {since}), 0) AS refunds_{w}d",
            f"coalesce(sum(d.refund_amount) FILTER (WHERE {since}), 0) AS refund_amount_{w}d",
        ]
    # each window's start once a (user, cutoff), not once a day of theirs (a time zone's
    # calendar sum: 24 a joined row were most of a build's CPU, 30.8M rows on the demo)
    starts = ", ".join(f"as_of - INTERVAL {w} DAY AS since_{w}d" for w in windows)
    trends = trend_windows(windows)
    short_w, mid_w = trends["trend_active_days_30_90"]
    long_w = trends["trend_orders_90_365"][1]
    attribute_sql = "".join(f", usr.{identifier(a)}" for a in attributes)
    cancel_sql = [  # by the day of the order (orders, revenue) or of its refund (refunds)
        f"sum({what}) FILTER (WHERE {_day_end(f'k.{at}')} > p.as_of - INTERVAL {w} DAY) AS {n}_{w}d"
        for w in windows
        for n, (what, at) in CANCELLED_WINDOW_FEATURES.items()
    ] + [
        f"count(*) FILTER (WHERE {_day_end('k.refund_time')} > p.as_of - INTERVAL {w} DAY) "
        f"AS cancelled_orders_{w}d"
        for w in windows
    ]
    refunded = "(coalesce(r.refund_amount_total, 0) - coalesce(k.refund_amount_total, 0))"
    return f"""
    WITH
    orders AS ({orders_sql(has_order_id)}),
    {cancelled_sql(has_order_id)},
    days AS (
        SELECT {u}, {_day_end(t)} AS day_end,
               max({t}) FILTER (WHERE {active}) AS last_active_time,
               bool_or({active}) AS active,
               count(*) FILTER (WHERE {ty} = '{c.SESSION}') AS sessions,
               coalesce(sum({money(amt)}) FILTER (WHERE {ty} = '{c.REFUND}'), 0) AS refund_amount,
               min({t}) FILTER (WHERE {ty} = '{c.ACTIVATION}') AS activation_time,
               min({t}) AS first_time,
               max({t}) AS last_time
        FROM events GROUP BY ALL
    ),
    day_orders AS (
        SELECT {u}, {_day_end("order_time")} AS day_end, count(*) AS orders, sum(value) AS revenue,
               max(order_time) AS last_order_time
        FROM orders GROUP BY ALL
    ),
    day_refunds AS (  -- a credit note (refund_notes: as an order, one id and day) is one refund
        SELECT {u}, {_day_end("refund_time")} AS day_end, count(*) AS refunds
        FROM refund_notes GROUP BY ALL
    ),
    daily AS (
        SELECT d.*, coalesce(o.orders, 0) AS orders, coalesce(o.revenue, 0) AS revenue,
               o.last_order_time, coalesce(r.refunds, 0) AS refunds
        FROM days d LEFT JOIN day_orders o USING ({u}, day_end)
        LEFT JOIN day_refunds r USING ({u}, day_end)
    ),
    population AS (
        SELECT usr.{u}, a.as_of FROM users usr CROSS JOIN cutoffs a
        WHERE usr.{c.SIGNUP_TIME} <= a.as_of
        UNION
        SELECT DISTINCT d.{u}, a.as_of FROM daily d JOIN cutoffs a ON d.first_time <= a.as_of
    ),
    window_agg AS (
        SELECT p.{u}, p.as_of,
            {", ".join(window_sql)},
            max(d.last_active_time) AS last_active_time,
            max(d.last_order_time) AS last_order_time,
            coalesce(sum(d.sessions), 0) AS sessions_total,
            min(d.activation_time) AS activation_time,
            min(d.first_time) AS first_event_time
        FROM (SELECT *, {starts} FROM population) p
        LEFT JOIN daily d ON d.{u} = p.{u} AND d.day_end <= p.as_of
        GROUP BY p.{u}, p.as_of
    ),
    kept_orders AS (  -- the orders not cancelled by the cutoff, each with the gap since the one
        -- before it (a cancelled order is no purchase then, so no gap starts or ends at it;
        -- ties broken by value)
        SELECT p.{u}, p.as_of, g.order_time, g.value,
               (epoch_us(g.order_time) - lag(epoch_us(g.order_time)) OVER (
                   PARTITION BY p.{u}, p.as_of ORDER BY g.order_time, g.value)) // 1000000 AS gap_seconds
        FROM population p JOIN orders g ON g.{u} = p.{u} AND g.order_time <= p.as_of
        {cancelled_by("g", "p.as_of", "k")}
        WHERE k.{u} IS NULL
    ),
    order_agg AS (
        SELECT g.{u}, g.as_of,
               count(*) AS orders_total, sum(g.value) AS revenue_total,
               avg(g.value) AS avg_order_value, max(g.value) AS max_order_value,
               min(g.order_time) AS first_order_time, max(g.order_time) AS last_order_time,
               avg(g.gap_seconds) / 86400.0 AS ipt_mean_days,
               -- from exact integer moments (DuckDB's stddev_samp merges threads' partial
               -- states in no fixed order, so its last bits vary from run to run)
               sqrt((count(g.gap_seconds) * sum(g.gap_seconds::HUGEINT * g.gap_seconds)
                     - sum(g.gap_seconds)::HUGEINT * sum(g.gap_seconds))::DOUBLE
                    / nullif(count(g.gap_seconds) * (count(g.gap_seconds) - 1), 0)) / 86400.0
                   AS ipt_std_days
        FROM kept_orders g
        GROUP BY g.{u}, g.as_of
    ),
    cancel_agg AS (  -- what the orders cancelled by the cutoff, and their refunds, added
        SELECT p.{u}, p.as_of, {", ".join(cancel_sql)}, sum(k.value) AS refund_amount_total,
               count(*) AS cancelled_orders_total
        FROM population p JOIN cancelled k ON k.{u} = p.{u} AND k.refund_time <= p.as_of
        GROUP BY p.{u}, p.as_of
    ),
    refund_agg AS (
        SELECT p.{u}, p.as_of, sum({money("e." + amt)}) AS refund_amount_total
        FROM population p JOIN events e ON e.{u} = p.{u} AND e.{t} <= p.as_of AND e.{ty} = '{c.REFUND}'
        GROUP BY p.{u}, p.as_of
    )
    SELECT w.{u}, w.as_of,
        {", ".join(_window_columns(windows))},
        -- known since sign-up or the first event, the earlier (DuckDB's least skips a null):
        -- a sign-up after the first event (or after the cutoff) is no later start, so tenure
        -- holds every other day count (recency, first purchase age) and reads no future
        epoch(w.as_of - {_known_since()}) / 86400.0 AS tenure_days,
        epoch(w.as_of - w.last_active_time) / 86400.0 AS recency_days,
        epoch(w.as_of - o.first_order_time) / 86400.0 AS first_purchase_age_days,
        epoch(w.as_of - o.last_order_time) / 86400.0 AS purchase_recency_days,
        coalesce(o.orders_total, 0) AS orders_total,
        coalesce(o.revenue_total, 0) AS revenue_total,
        {refunded} AS refund_amount_total,
        -- what the user's purchases are worth after refunds: the value LTV forecasts
        coalesce(o.revenue_total, 0) - {refunded} AS net_revenue_total,
        o.avg_order_value,
        greatest(o.revenue_total - {refunded}, 0) / o.orders_total AS net_order_value,
        o.max_order_value, o.ipt_mean_days, o.ipt_std_days,
        w.sessions_total,
        (w.activation_time IS NOT NULL)::INTEGER AS activated,
        epoch(w.activation_time - {_known_since()}) / 86400.0 AS days_to_activation,
        w.active_days_{short_w}d / nullif(w.active_days_{mid_w}d / ({mid_w} / {short_w}), 0) AS trend_active_days_30_90,
        w.orders_{mid_w}d / nullif(w.orders_{long_w}d / ({long_w} / {mid_w}), 0) AS trend_orders_90_365,
        -- how overdue the next purchase is against the user's own rhythm; share of spend refunded
        (epoch(w.as_of - o.last_order_time) / 86400.0) / nullif(o.ipt_mean_days, 0) AS overdue_ratio,
        {refunded} / nullif(o.revenue_total, 0) AS refund_rate,
        coalesce(k.cancelled_orders_total, 0) AS cancelled_orders_total,
        usr.{c.CHANNEL}{attribute_sql}
    FROM window_agg w
    JOIN users usr USING ({u})
    LEFT JOIN order_agg o USING ({u}, as_of)
    LEFT JOIN refund_agg r USING ({u}, as_of)
    LEFT JOIN cancel_agg k USING ({u}, as_of)
    ORDER BY w.as_of, w.{u}
    """


def _known_since() -> str:
    """When the user was first known as of the cutoff: tenure and activation count from it."""
    return f"least(usr.{c.SIGNUP_TIME}, w.first_event_time)"


def _window_columns(windows: Sequence[int]) -> list[str]:
    """The window features, less what the orders cancelled by the cutoff added."""
    return [
        f"w.{n}_{w}d - coalesce(k.{n}_{w}d, 0) AS {n}_{w}d"
        if n in CANCELLED_WINDOW_FEATURES
        else f"coalesce(k.{n}_{w}d, 0) AS {n}_{w}d"
        if n in WORDS_ONLY_WINDOWS  # counted of the cancelled pairs alone (cancel_agg)
        else f"w.{n}_{w}d"
        for w in windows
        for n in WINDOW_FEATURES
    ]


def _day_end(column: str) -> str:
    """The midnight that ends the day of ``column``; an event at exactly midnight ends its day."""
    return f"date_trunc('day', {column} - INTERVAL 1 MICROSECOND) + INTERVAL 1 DAY"
