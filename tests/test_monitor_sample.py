"""The monitor's samples kept by `score-all` (serving.monitor_sample): the monitor answers
exactly what it answers reading the feature table and the scores table, and reads the kept
samples only while they are what it would read."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from workspaces import NO_COMPILE

from features.asof import feature_cutoffs
from lifecycle.settings import Settings, load_settings
from serving.batch import score_all
from serving.monitor import KEPT, MonitorResult, monitor
from serving.scoring import Champions, load_champions

SMALL_SAMPLE = {**NO_COMPILE, "LIFECYCLE_MONITOR__MAX_ROWS": "1200"}  # < the demo's 2,000
# The monitor reads score and feature columns, never the churn reasons: its tests' score-all
# words none (TreeSHAP and wording are ~80% of a 2,000-user score-all's CPU).
NO_REASONS = 0


def without_kept_samples(settings: Settings, champions: Champions | None = None) -> MonitorResult:
    """The monitor's answer reading the tables, the kept samples put back afterwards."""
    saved = {p: p.read_bytes() for p in settings.workspace.monitor_samples if p.is_file()}
    for path in saved:
        path.unlink()
    try:
        result = monitor(settings, champions=champions)
    finally:
        for path, content in saved.items():
            path.write_bytes(content)
    assert KEPT not in result.read_from.values()
    return result


def assert_same_answer(kept: MonitorResult, read: MonitorResult) -> None:
    assert kept.to_dict() == read.to_dict()
    assert kept.lines() == read.lines()


def test_the_answer_is_the_same_with_and_without_the_kept_samples(trained_copy: Path) -> None:
    # Every user (the demo has fewer than monitor.max_rows): what the shared workspace's
    # score-all kept.
    settings = load_settings(home=trained_copy, environ=NO_COMPILE)
    kept = monitor(settings)
    assert kept.read_from == {"features": KEPT, "scores": KEPT}
    assert {c.source for c in kept.columns} == {"feature", "score"} and not kept.notes
    assert_same_answer(kept, without_kept_samples(settings))

    # Sampled (1,200 of 2,000 rows a side): kept samples of another size are not used ...
    small = load_settings(home=trained_copy, environ=SMALL_SAMPLE)
    assert KEPT not in monitor(small).read_from.values()
    # ... until score-all keeps samples of this size: the same hashed rows and drawn positions.
    score_all(small, reasons_top=NO_REASONS)
    features_sample, scores_sample = small.workspace.monitor_samples
    assert pq.read_metadata(scores_sample).num_rows == 1200
    assert 1000 < pq.read_metadata(features_sample).num_rows < 1400
    assert "user_id" not in pq.read_schema(features_sample).names  # rows, but no ids
    kept = monitor(small)
    assert kept.read_from == {"features": KEPT, "scores": KEPT}
    rows = {(c.source, c.current_rows) for c in kept.columns}
    assert ("score", 1200) in rows and all(n < 1400 for _, n in rows)
    assert_same_answer(kept, without_kept_samples(small))


def test_kept_samples_are_read_only_while_they_are_what_the_monitor_would_read(
    trained_copy: Path,
) -> None:
    settings = load_settings(home=trained_copy, environ=SMALL_SAMPLE)
    table = settings.workspace.feature_table(settings.dataset)
    score_all(settings, reasons_top=NO_REASONS)
    champions = load_champions(settings)

    # Scored as of an earlier cutoff: the scores sample follows the new latest scores table;
    # the latest cutoff's features sample stays (the feature table did not change).
    earlier = feature_cutoffs(table)[-3]
    score_all(settings, earlier, reasons_top=NO_REASONS)
    kept = monitor(settings, champions=champions)
    assert kept.read_from == {"features": KEPT, "scores": KEPT}
    assert kept.scores_as_of == f"{earlier:%Y-%m-%d}" and kept.current_as_of > kept.scores_as_of
    assert_same_answer(kept, without_kept_samples(settings, champions))

    # Other champion versions: the features sample was taken for other models' columns.
    other = Champions(
        bundles=champions.bundles, versions={task: "99" for task in champions.versions}
    )
    assert monitor(settings, champions=other).read_from["features"] == str(table)

    # A rewritten feature table (even with the same bytes) is not the one sampled.
    stat = table.stat()
    os.utime(table, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    read = monitor(settings, champions=champions)
    assert read.read_from["features"] == str(table) and read.read_from["scores"] == KEPT
    assert_same_answer(read, kept)


def test_score_all_keeps_no_features_sample_of_another_feature_table(trained_copy: Path) -> None:
    """A feature table rebuilt after score-all retrieved its features (another lineage id)
    is not sampled: the old sample is removed, the monitor reads the table."""
    from lifecycle import lineage
    from serving.monitor_sample import keep_samples

    settings = load_settings(home=trained_copy, environ=NO_COMPILE)
    features_sample, scores_sample = settings.workspace.monitor_samples
    assert features_sample.is_file()
    table = settings.workspace.feature_table(settings.dataset)
    latest = settings.workspace.latest_scores
    scores = pd.read_parquet(latest)
    metadata = {
        "dataset": settings.dataset,
        "as_of": f"{feature_cutoffs(table)[-1]:%Y-%m-%d}",
        "lineage": {"feature_table": "built-by-someone-else"},
    }
    assert metadata["lineage"]["feature_table"] != (lineage.read(table) or {}).get("id")
    written = keep_samples(
        settings,
        load_champions(settings),
        pd.DataFrame(),  # never read: the lineage differs first
        scores,
        metadata,
        feature_table=table,
        scores_table=latest.resolve(),
        latest_cutoff=True,
    )
    assert written == [scores_sample] and not features_sample.exists()
    assert monitor(settings).read_from == {"features": str(table), "scores": KEPT}


def test_kept_features_are_read_with_the_dtypes_the_feature_table_is_read_with(
    tmp_path: Path,
) -> None:
    """pyarrow reads the sample when it gives what DuckDB's ``.df()`` gives (read_rows's
    reader); integers or flags with missing values are read by DuckDB itself."""
    import duckdb
    import pyarrow as pa

    from serving.monitor_sample import read_like_duckdb

    table = pa.table(
        {
            "revenue": pa.array([1.5, None, 3.0], pa.float64()),
            "score32": pa.array([0.5, 0.25, None], pa.float32()),
            "channel": pa.array(["email", None, "organic"]),
            "orders": pa.array([1, 2, 3], pa.int64()),
            "age": pa.array([30, 40, 50], pa.int32()),
            "activated": pa.array([True, False, True]),
            "orders_or_missing": pa.array([1, None, 3], pa.int64()),
            "flag_or_missing": pa.array([True, None, False]),
        }
    )
    path = tmp_path / "sample.parquet"
    pq.write_table(table, path)
    plain = ["revenue", "score32", "channel", "orders", "age", "activated"]
    for names in (plain, [*plain, "orders_or_missing"], ["flag_or_missing"]):
        with duckdb.connect() as connection:
            selected = ", ".join(names)
            expected = connection.execute(f"SELECT {selected} FROM read_parquet('{path}')").df()
        pd.testing.assert_frame_equal(read_like_duckdb(path, names), expected)
    assert str(read_like_duckdb(path, ["orders_or_missing"])["orders_or_missing"].dtype) == "Int64"


def test_a_damaged_latest_scores_table_is_a_note_not_a_traceback(trained_copy: Path) -> None:
    """`lifecycle monitor` over a latest scores table cut short (a disk full mid-copy) was an
    ArrowInvalid traceback, from the kept samples' check and then from the table's read:
    now the features are compared and the scores are not, saying why."""
    settings = load_settings(home=trained_copy, environ=NO_COMPILE)
    latest = (settings.workspace.scores_dir / "latest.parquet").resolve()
    latest.write_bytes(latest.read_bytes()[:1000])
    result = monitor(settings)
    assert {c.source for c in result.columns} == {"feature"}
    assert result.notes == [
        f"scores not compared: {settings.workspace.scores_dir / 'latest.parquet'}: not a scores "
        "table written by `lifecycle score-all` (not a Parquet file)"
    ]


def test_the_monitor_names_the_dataset_of_the_score_all_it_asks_for(trained_copy: Path) -> None:
    """A scores table older than the latest cutoff made the monitor say `run lifecycle
    score-all`, which scores the settings' dataset, not necessarily the one monitored."""
    settings = load_settings(home=trained_copy, environ=NO_COMPILE)
    table = settings.workspace.feature_table(settings.dataset)
    score_all(settings, feature_cutoffs(table)[-2], reasons_top=NO_REASONS)
    notes = monitor(settings).notes
    asked = [note for note in notes if "lifecycle score-all" in note]
    assert asked and all(
        note.endswith(f"`lifecycle score-all --dataset {settings.dataset}`") for note in asked
    ), notes
