"""Materialize into a Redis online store one user at a time: all of a user's views in one HSET.

Feast keeps every view of a user in one Redis hash (keyed by the entity key and the project;
a field per feature and an event time per view) but its ``materialize`` writes view after
view, and skips a row whose event time is not newer than the stored one. So while a new
feature table was written over an old one a user read meanwhile was part old, part new
(answered 200 with features of neither table), and a table rebuilt at the same as-of dates
(a late event, corrected data) was not written at all while the store said it held it. Here
the same fields, encoded by Feast's own functions, go into each user's hash in one command:
a read finds a user wholly of one table, and every row replaces the stored one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from features import redis_health

if TYPE_CHECKING:
    import pandas as pd
    from feast import FeatureStore

BATCH_USERS = 2_000  # users converted and sent in one pipeline


def write_frame(
    store: FeatureStore, views: Sequence[Any], frame: pd.DataFrame, batch: int = BATCH_USERS
) -> int:
    """Write every view of each user of ``frame`` (its latest rows) into the user's hash in
    one ``HSET``; returns the users written."""
    import pyarrow as pa
    from feast.infra.online_stores.helpers import _mmh3, _redis_key
    from feast.infra.online_stores.redis import _versioned_fv_name
    from feast.utils import _convert_arrow_to_proto, make_tzaware
    from google.protobuf.timestamp_pb2 import Timestamp

    config = store.config
    ttl = config.online_store.key_ttl_seconds
    client = redis_health._client(store)
    for start in range(0, len(frame), batch):
        rows = pa.Table.from_pandas(frame.iloc[start : start + batch], preserve_index=False)
        hashes: dict[bytes, dict[Any, bytes]] = {}
        for view in views:
            name = _versioned_fv_name(view, config)
            join_keys = {e.name: e.dtype.to_value_type() for e in view.entity_columns}
            for entity, values, event_time, _ in _convert_arrow_to_proto(rows, view, join_keys):
                key = _redis_key(config.project, entity, config.entity_key_serialization_version)
                stamp = Timestamp()
                stamp.FromDatetime(make_tzaware(event_time))
                fields = hashes.setdefault(key, {})
                fields[f"_ts:{name}"] = stamp.SerializeToString()
                for feature, value in values.items():
                    fields[_mmh3(f"{name}:{feature}")] = value.SerializeToString()
        with redis_health.reaching_store(store), client.pipeline(transaction=False) as pipe:
            for key, fields in hashes.items():
                pipe.hset(key, mapping=fields)
                if ttl:
                    pipe.expire(key, ttl)
            pipe.execute()
    return len(frame)
