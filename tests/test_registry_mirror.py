"""The Feast registry's mirror (``features.registry_mirror``): what ``features apply`` and
``materialize`` write is what Feast says, and serving reads Feast itself, with the same
answers, when the mirror is stale, absent or unreadable."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from workspaces import NO_COMPILE, TrainedWorkspace

from lifecycle.settings import load_settings


def test_the_mirror_written_by_apply_and_materialize_is_what_feast_says(
    trained_workspace: TrainedWorkspace,
) -> None:
    """The shared workspace's registry was last written by ``materialize``: its mirror is
    fresh, and every view's table, join keys and column types and every service's views and
    features in order are Feast's own."""
    from feast.infra.online_stores.sqlite import _table_id

    from features.online_store import _columns
    from features.registry_mirror import digest, fresh_mirror, mirror_file
    from features.store import open_store, store_paths

    settings = trained_workspace.settings()
    paths = store_paths(settings)
    mirror = fresh_mirror(settings, paths)
    assert mirror is not None, f"{mirror_file(paths)} is absent or stale"
    written = json.loads(mirror_file(paths).read_text())
    assert written["registry_sha256"] == digest(paths.registry)
    store = open_store(settings)
    assert mirror.project == store.project
    views = store.list_feature_views()
    assert sorted(mirror.views) == sorted(v.name for v in views) != []
    for view in views:
        mirrored = mirror.views[view.name]
        assert mirrored.table == _table_id(store.project, view)
        assert mirrored.join_keys == [e.name for e in view.entity_columns]
        assert mirrored.columns == {name: sql for name, sql, _ in _columns(view)}
    services = store.list_feature_services()
    assert mirror.service_names() == sorted(s.name for s in services) != []
    for service in services:
        assert [(p.view, p.name_to_use, p.features) for p in mirror.services[service.name]] == [
            (p.name, p.name_to_use(), [f.name for f in p.features])
            for p in service.feature_view_projections
        ]


def _stale_by_feast(home: Path) -> None:
    """Feast itself rewrites the registry (as the ``feast`` CLI would): the mirror's hash no
    longer matches, and its content is made wrong so that reading it would show."""
    from features.registry_mirror import mirror_file
    from features.store import open_store, store_paths

    settings = load_settings(home=home, environ={})
    store = open_store(settings)
    view = store.list_feature_views()[0]
    now = datetime.now(UTC)
    store.registry.apply_materialization(view, store.project, now, now)
    _poison(mirror_file(store_paths(settings)))


def _poison(mirror: Path) -> None:
    """Every view's online table renamed: a reader of this mirror cannot load."""
    document = json.loads(mirror.read_text())
    for view in document["views"].values():
        view["table"] += "_not_there"
    mirror.write_text(json.dumps(document))


def _absent(home: Path) -> None:
    from features.registry_mirror import mirror_file
    from features.store import store_paths

    mirror_file(store_paths(load_settings(home=home, environ={}))).unlink()


def _unreadable(home: Path) -> None:
    from features.registry_mirror import mirror_file
    from features.store import store_paths

    mirror_file(store_paths(load_settings(home=home, environ={}))).write_text('{"format": 1')


@pytest.mark.parametrize("spoil", [_stale_by_feast, _absent, _unreadable])
def test_without_a_fresh_mirror_serving_reads_feast_with_the_same_answers(
    trained_copy: Path, spoil: object
) -> None:
    from services import known_user_ids

    from serving.scorer import Scorer

    settings = load_settings(home=trained_copy, environ=NO_COMPILE)
    users = [*known_user_ids(trained_copy)[:40], "no-such-user"]
    mirrored = Scorer(settings)
    assert mirrored.load(mirrored=True).store.mirrored
    want = mirrored.score(users, reasons="fresh")
    spoil(trained_copy)  # type: ignore[operator]
    fallback = Scorer(settings)
    state = fallback.load(mirrored=True)
    assert not state.store.mirrored  # its registry read by Feast
    got = fallback.score(users, reasons="fresh")
    assert [u.user_id for u in got.users] == users and got.users[-1].status == "unknown_user"
    assert [u.model_dump_json() for u in got.users] == [u.model_dump_json() for u in want.users]


def test_a_fresh_mirror_is_what_serving_reads(trained_copy: Path) -> None:
    """What makes the fallback tests able to fail: a mirror spoiled like theirs but left
    fresh (the registry's hash) is read, and the load refuses its missing tables."""
    from features.registry_mirror import fresh_mirror, mirror_file
    from features.store import store_paths
    from serving.errors import ApiError
    from serving.scorer import Scorer

    settings = load_settings(home=trained_copy, environ=NO_COMPILE)
    _poison(mirror_file(store_paths(settings)))
    assert fresh_mirror(settings, store_paths(settings)) is not None
    scorer = Scorer(settings)
    with pytest.raises(ApiError, match="_not_there"):
        scorer.load(mirrored=True)
