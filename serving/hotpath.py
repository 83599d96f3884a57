"""The online half of scoring: store rows straight into the request's feature matrix.

``Scorer.score`` looks each distinct feature service up once and builds one
:class:`~serving.feature_matrix.FeatureMatrix` from the raw rows (no DataFrame), which
``serving.scoring.score_matrix`` scores exactly as batch scoring scores a frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from serving.feature_matrix import FeatureMatrix, Layout

if TYPE_CHECKING:
    import pandas as pd

    from features.served_store import ServedStore
    from serving.scoring import Champions


def online_matrix(
    store: ServedStore,
    layout: Layout,
    fetch: dict[str, str],
    champions: Champions,
    user_ids: list[str],
) -> FeatureMatrix:
    """The feature matrix of the users the online store knows (unknown ones left out);
    ``fetch`` maps a feature service to the one whose lookup answers it."""
    services = sorted({fetch[s] for s in champions.services}) or [store.any_service()]
    reads = []
    for service_name in services:
        found_rows = store.rows(user_ids, service_name)
        if found_rows is None:  # not our row store (e.g. Redis): through Feast's frame
            return FeatureMatrix.from_frame(layout, online_frame(store, user_ids, services))
        reads.append(found_rows)
    matrix, found = FeatureMatrix.from_online_rows(layout, user_ids, reads)
    return matrix if found.all() else matrix.take(np.flatnonzero(found))


def online_frame(store: ServedStore, user_ids: list[str], services: list[str]) -> pd.DataFrame:
    """Feast's online features of each service, merged on user id; known users only."""
    from features import contract as c
    from features.store import online_features

    frame: pd.DataFrame | None = None
    found = None
    for service_name in services:
        online = online_features(store.feast, user_ids, service_name)
        if frame is None:
            frame, found = online.frame, online.found.to_numpy()
        else:
            extra = [col for col in online.frame.columns if col not in frame.columns]
            frame = frame.merge(
                online.frame[[c.USER_ID, *extra]], on=c.USER_ID, how="left", validate="one_to_one"
            )
            found = found | online.found.to_numpy()
    assert frame is not None and found is not None
    return frame[found].reset_index(drop=True)


def fetch_plan(store: ServedStore, services: set[str]) -> dict[str, str]:
    """Look up each distinct set of features once: a service whose features another
    service already returns is answered by that service's lookup (one Feast call, not three)."""
    refs = {name: store.registry.service_refs(name) for name in services}
    plan: dict[str, str] = {}
    for name in sorted(services, key=lambda n: (-len(refs[n]), n)):
        plan[name] = next((f for f in dict.fromkeys(plan.values()) if refs[name] <= refs[f]), name)
    return plan
