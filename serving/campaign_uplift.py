"""Recorded campaigns as an uplift training table: who can be saved, learned from our own
randomized campaigns (the demo's win-back campaigns, or any ``lifecycle campaign start``).

Per member of each campaign, one row of the campaign table ``training.uplift`` learns from
(``features.contract.CAMPAIGN_REQUIRED``):

- ``treatment``: targeted (not in the control group), as the campaign recorded it;
- ``arm``: the campaign's name;
- the outcomes in ``(as_of, as_of + horizon]`` only, read as ``lifecycle campaign report``
  reads them (``serving.campaigns.campaign_outcomes``): ``visit`` is the report's retention
  (any activity), ``conversion`` an order, ``spend`` the net revenue;
- the features: the dataset's feature table at the campaign's as-of date; a table rebuilt
  on a grid without that date has them computed there (events before it only, the table's
  settings), else (settings changed since its build) the latest cutoff before it, never a
  later one, so nothing the campaign caused is an input.

Training and serving stay apart: the CLI hands this table to ``training.uplift``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.parquet as pq

from features import contract as c
from features.asof import AS_OF
from lifecycle import lineage
from serving.campaigns import (
    CONTROL,
    Campaign,
    CampaignError,
    campaign_outcomes,
    last_event_time,
)
from serving.list_files import read_list

if TYPE_CHECKING:
    from lifecycle.settings import Settings

# The campaign table's outcome columns -> the campaign report's measure they hold.
OUTCOME_MEASURES = {c.VISIT: "retention", c.CONVERSION: "conversion", c.SPEND: "revenue"}
LEFT_OUT = "left_out"  # the table's attrs: campaign -> members without features, and why
COMPUTED_AT = "features_computed_at"  # campaign -> its as-of date, no cutoff of the table
# campaign -> the earlier cutoff used instead of its own date, and why (the settings changed)
FEATURES_FROM = "features_from"


def list_campaign(path: Path, horizon_days: int, dataset: str) -> Campaign:
    """A campaign list with its ``as_of`` column (the demo's ``campaign_lists/*.csv``) as a
    campaign, without recording it: its name is the file's stem."""
    members = read_list(path)
    if "as_of" not in members:  # a list as `lifecycle at-risk --out` writes it
        raise CampaignError(
            f"{path}: no as_of column, the date the campaign's list was drawn; a list from "
            "`lifecycle at-risk --out` goes in as a recorded campaign: `lifecycle campaign "
            "start NAME --from-list FILE`, then `train-uplift --campaigns NAME`"
        )
    dates = sorted(set(members["as_of"]))
    if len(dates) != 1:
        raise CampaignError(
            f"{path}: column as_of has {len(dates)} dates; expected the campaign's one date"
        )
    metadata = {"as_of": dates[0], "horizon_days": horizon_days, "dataset": dataset}
    return Campaign(path.stem, members.drop(columns=["as_of"]), metadata, path)


def campaigns_source(campaigns: list[Campaign]) -> str:
    """How a table built from ``campaigns`` is named in messages and in MLflow."""
    return "campaigns " + ", ".join(campaign.name for campaign in campaigns)


def campaign_uplift_table(
    settings: Settings, campaigns: list[Campaign], dataset: str | None = None
) -> pd.DataFrame:
    """One row per member of each campaign: treatment, arm, outcomes and as-of features.

    Every campaign's horizon must have passed in the ingested events; a problem is one
    :class:`CampaignError` line naming the campaign and what is missing.
    """
    if not campaigns:
        raise CampaignError("no campaigns given: name recorded ones (`lifecycle campaign list`)")
    dataset = dataset or str(campaigns[0].metadata.get("dataset") or settings.dataset)
    events = settings.workspace.events(dataset)
    feature_table = settings.workspace.feature_table(dataset)
    for path, fix in ((events, "ingest it"), (feature_table, "run `lifecycle features build`")):
        if not path.is_file():
            raise CampaignError(f"dataset {dataset!r} has no {path.name} at {path}: {fix} first")
    data_ends = last_event_time(events)
    cutoffs = pd.DatetimeIndex(
        pq.read_table(feature_table, columns=[AS_OF]).column(AS_OF).unique().to_pandas()
    )
    cutoffs = cutoffs.tz_localize("UTC") if cutoffs.tz is None else cutoffs.tz_convert("UTC")
    tables = []
    unknown: dict[str, dict[str, Any]] = {}  # members without features, per campaign
    computed: dict[str, str] = {}  # campaign -> its as-of date, features computed there
    fell_back: dict[str, dict[str, str]] = {}  # campaign -> the earlier cutoff used, and why
    recorded = (lineage.read(feature_table) or {}).get("settings_hash")
    seen: list[tuple[Campaign, pd.DataFrame]] = []  # the campaigns before, their members
    for campaign in campaigns:
        if campaign.horizon_end > data_ends:
            raise CampaignError(
                f"campaign {campaign.name}: its horizon ends {campaign.horizon_end:%Y-%m-%d} but "
                f"the events of {dataset!r} end {data_ends:%Y-%m-%d}: its outcomes are not known yet"
            )
        before = cutoffs[cutoffs <= campaign.as_of]
        if before.empty:
            raise CampaignError(
                f"campaign {campaign.name}: {feature_table} has no cutoff at or before its as-of "
                f"date {campaign.as_of:%Y-%m-%d}; expected features from before the campaign"
            )
        cutoff = before.max()
        features = pd.read_parquet(feature_table, filters=[(AS_OF, "==", cutoff)])
        # a table rebuilt on a grid without the campaign's day: its features computed there
        grid_lacks_the_day = cutoff < campaign.as_of
        a_midnight = campaign.as_of == campaign.as_of.normalize()
        if grid_lacks_the_day and a_midnight:
            own, why_not = _features_at(
                settings, dataset, campaign.as_of, features.columns, recorded
            )
            if own is not None:
                features, cutoff = own, campaign.as_of
                computed[campaign.name] = f"{cutoff:%Y-%m-%d}"
            else:
                fell_back[campaign.name] = {"cutoff": f"{cutoff:%Y-%m-%d}", "why": why_not}
        features = features.drop(columns=[AS_OF]).astype({c.USER_ID: str})
        members = campaign.members[[c.USER_ID, CONTROL]].astype({c.USER_ID: str})
        _refuse_shared_members(campaign, members, seen)
        outcomes = campaign_outcomes(
            events,
            settings.workspace.users_if_any(dataset),
            campaign.as_of,
            campaign.horizon_days,
            members[c.USER_ID],
            not_activity_types=campaign.not_activity_types(settings.labels.not_activity_types),
        )
        rows = members.merge(outcomes, on=c.USER_ID).merge(features, on=c.USER_ID)
        if left_out := len(members) - len(rows):  # not known at the cutoff: no features
            if rows.empty:
                raise CampaignError(
                    f"campaign {campaign.name}: none of its {len(members):,} members is a user "
                    f"of {dataset!r} known at "
                    f"{_known_at(cutoff, campaign.name in computed, campaign.as_of)}"
                )
            unknown[campaign.name] = {
                "members": len(members),
                "left_out": left_out,
                "cutoff": f"{cutoff:%Y-%m-%d}",
            }
        table = pd.DataFrame(
            {
                c.USER_ID: rows[c.USER_ID],
                c.TREATMENT: ~rows[CONTROL].astype(bool),
                c.ARM: campaign.name,
                **{column: rows[measure] for column, measure in OUTCOME_MEASURES.items()},
            }
        )
        tables.append(pd.concat([table, rows[features.columns.drop(c.USER_ID)]], axis=1))
    table = pd.concat(tables, ignore_index=True)
    table.attrs[LEFT_OUT] = unknown
    table.attrs[COMPUTED_AT] = computed
    table.attrs[FEATURES_FROM] = fell_back
    return table


def _features_at(
    settings: Settings, dataset: str, as_of: pd.Timestamp, columns: pd.Index, recorded: str | None
) -> tuple[pd.DataFrame | None, str]:
    """The features of every user known at ``as_of``, computed as the feature table computes
    its cutoffs (events before ``as_of`` only, its settings and memory limit), or None and
    why not: the settings are no longer those the table recorded (``recorded``, its
    ``settings_hash``), so a row computed now would differ from the other campaigns' (e.g.
    ``labels.not_activity_types`` changes values, not columns); a table without lineage
    (built before it) is compared by its columns only. The table's earlier cutoff is then used."""
    from features.table_settings import features_at, settings_digest

    rebuild = f"run `lifecycle features build --dataset {dataset}`"
    if recorded is not None and recorded != settings_digest(settings):
        return None, f"the feature table was built with other features settings: {rebuild}"
    computed = features_at(settings, dataset, [as_of])
    if set(computed.columns) != set(columns):
        return None, f"the settings now make other columns than the feature table's: {rebuild}"
    return computed[list(columns)], ""


def left_out_lines(table: pd.DataFrame) -> list[str]:
    """What :func:`campaign_uplift_table` left out: members no feature row knew."""
    return table_notes(table)[LEFT_OUT]


def table_notes(table: pd.DataFrame) -> dict[str, list[str]]:
    """What :func:`campaign_uplift_table` left out (members no feature row knew) and where it
    computed a campaign's features at its own date, as lines under their attrs' names."""
    computed = table.attrs.get(COMPUTED_AT, {})
    return {
        LEFT_OUT: [
            f"campaign {name}: {n['left_out']:,} of {n['members']:,} members left out, not "
            f"yet users at {_known_at(n['cutoff'], name in computed)}: no features to learn from"
            for name, n in table.attrs.get(LEFT_OUT, {}).items()
        ],
        COMPUTED_AT: [
            f"campaign {name}: features computed at its as-of date {day}, which the feature "
            "table's cutoffs do not hold (a table rebuilt on another grid)"
            for name, day in table.attrs.get(COMPUTED_AT, {}).items()
        ],
        FEATURES_FROM: [
            f"campaign {name}: features of the earlier cutoff {f['cutoff']}, not computed at "
            f"its as-of date: {f['why']}"
            for name, f in table.attrs.get(FEATURES_FROM, {}).items()
        ],
    }


def _known_at(cutoff: pd.Timestamp | str, computed: bool, as_of: pd.Timestamp | None = None) -> str:
    """The day members were looked up at: the campaign's own date when its features were
    computed there, else the table's last cutoff at or before it (``as_of``: named too)."""
    day = f"{pd.Timestamp(cutoff):%Y-%m-%d}"
    if computed:
        return f"{day}, its as-of date (features computed there)"
    named = "" if as_of is None else f" {as_of:%Y-%m-%d}"
    return f"{day}, the last feature cutoff at or before its as-of date{named}"


def _refuse_shared_members(
    campaign: Campaign, members: pd.DataFrame, seen: list[tuple[Campaign, pd.DataFrame]]
) -> None:
    """One membership counted twice: a campaign given again under another name (a recorded
    campaign and the list it was started from, dated by its scores table or by the list),
    or members of two campaigns of one as-of day, whose effects cannot be told apart. Either
    way the learners would be judged on rows they had seen."""
    day = campaign.as_of.normalize()
    for other, held in seen:
        same = members.sort_values(c.USER_ID, ignore_index=True).equals(
            held.sort_values(c.USER_ID, ignore_index=True)
        )
        shared = set(members[c.USER_ID]) & set(held[c.USER_ID])
        if same or (shared and other.as_of.normalize() == day):
            raise CampaignError(
                f"campaigns {other.name} and {campaign.name} share {len(shared):,} members"
                f"{'' if same else f' on {day:%Y-%m-%d}'} (e.g. {min(shared)}"
                f"{', every one with the same control flag' if same else ''}): the same "
                "campaign given twice (a recorded campaign and its list), or two of one day "
                "whose effects cannot be told apart; give one of them"
            )
    seen.append((campaign, members))
