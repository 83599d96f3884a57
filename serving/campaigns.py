"""Campaigns: who was targeted and who was held out, and what the difference was.

``lifecycle campaign start`` records a campaign's members (a list exported by ``lifecycle
at-risk``, or one made from the same options) with their control flag and their scores at
the as-of date, in ``Workspace.campaign(name)``. Once the horizon has passed in the events
ingested, ``lifecycle campaign report`` compares targeted and control users on what
happened in ``(as_of, as_of + horizon]`` only, read by the label code
(:func:`features.labels.compute_labels`):

- retention: any activity in the horizon (the churn outcome, inverted; ``labels.not_activity_types``
  as recorded at the start are none);
- conversion: an order in the horizon;
- revenue: purchases minus refunds in the horizon (a refund of an earlier order counts: not
  floored at 0 as the LTV label is, which raised both groups' means by members' refunds).

Each difference comes with a confidence interval and the smallest effect the sample could
have detected (:mod:`serving.campaign_stats`); users and value saved are the difference
times the number of targeted users.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from features.id_spellings import padded_width, padding_hint
from lifecycle import tasks
from lifecycle.dataset_kind import SCORES_STEP
from lifecycle.errors import UserError
from serving.campaign_balance import expected_line, expected_retention
from serving.campaign_stats import Effect, mean_difference, proportion_difference
from serving.units import Units, units_for

if TYPE_CHECKING:
    from collections.abc import Sequence

    from features.erasure_log import ErasedUsers
    from lifecycle.settings import Settings
    from serving.batch import ScoresTable

METADATA_KEY = b"lifecycle_campaign"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CONTROL = "control"
# What a campaign measures -> (the task outcome it is read from, whether it is inverted).
# Retention is the churn outcome (no activity) inverted; the others are read as they are.
MEASURES = {
    "retention": ("no_activity", True),
    "conversion": ("any_purchase", False),
    "revenue": ("net_value", False),
}
PROPORTIONS = ("retention", "conversion")
# the record's labels.not_activity_types at the start: its retention's definition
NOT_ACTIVITY_TYPES = "not_activity_types"
# the date of the members' recorded scores, when it is not the as-of date outcomes are measured
# from (a list scored on one day and sent on a later one)
SCORED_AT = "scored_at"
# the control-group seed a campaign drew its held-out users with (none: from a list without one)
CONTROL_SEED_KEY = "control_seed"


class CampaignError(UserError):
    """A campaign cannot be started or reported as asked; the message says why."""


@dataclass
class Campaign:
    """A recorded campaign: members (user_id, control, their scores) and its definition."""

    name: str
    members: pd.DataFrame
    metadata: dict[str, Any]
    path: Path | None = None

    @property
    def as_of(self) -> pd.Timestamp:
        return pd.Timestamp(self.metadata["as_of"], tz="UTC")

    @property
    def scored_at(self) -> str:
        """The date of the members' recorded scores: the list's, when it was sent later than
        scored (``as_of`` is the day outcomes are measured from); a record from before they
        were kept apart: its as-of date, as it was read then."""
        return str(self.metadata.get(SCORED_AT) or f"{self.as_of:%Y-%m-%d}")

    @property
    def horizon_days(self) -> int:
        return int(self.metadata["horizon_days"])

    @property
    def horizon_end(self) -> pd.Timestamp:
        try:
            return self.as_of + pd.Timedelta(days=self.horizon_days)
        except (OverflowError, ValueError):  # recorded before such horizons were refused
            raise CampaignError(
                f"campaign {self.name} ({self.path}): its {self.horizon_days:,}-day horizon ends "
                "past 2262-04-11, the last date pandas holds: it cannot be reported; start it again "
                "under another name with a --horizon-days it can reach"
            ) from None

    def not_activity_types(self, current: Sequence[str]) -> tuple[str, ...]:
        """The event types that were no activity when the campaign started (its retention is
        read so, whatever the setting says since); a record from before they were kept:
        ``current`` (``labels.not_activity_types``), as it was read then."""
        return tuple(self.metadata.get(NOT_ACTIVITY_TYPES, current))

    @property
    def targeted(self) -> int:
        return int((~self.members[CONTROL]).sum())

    @property
    def held_out(self) -> int:
        return int(self.members[CONTROL].sum())

    def summary(self) -> dict[str, Any]:
        try:
            end, problem = f"{self.horizon_end:%Y-%m-%d}", None
        except CampaignError as error:  # listed all the same, flagged: the others are too
            end, problem = None, str(error)
        return {
            "name": self.name,
            "as_of": f"{self.as_of:%Y-%m-%d}",
            SCORED_AT: self.scored_at,
            "horizon_days": self.horizon_days,
            "horizon_end": end,
            **({"problem": problem} if problem else {}),
            "dataset": self.metadata.get("dataset"),
            "targeted": self.targeted,
            "control": self.held_out,
            "source": self.metadata.get("source"),
            CONTROL_SEED_KEY: self.metadata.get(CONTROL_SEED_KEY),
            "started_at": self.metadata.get("started_at"),
        }


def campaign_seed(name: str) -> int:
    """The control-group seed of campaign ``name`` made without --seed: a stable hash of its
    name, so each campaign holds out other users (with seed 0 for all, the same users were held
    out of every campaign) and the same definition holds out the same ones."""
    from serving.lists import drawn_seed

    return drawn_seed(f"campaign:{name}")


# -- starting a campaign ------------------------------------------------------------------


def check_name(settings: Settings, name: str) -> Path:
    """The path a new campaign ``name`` will take; an error when the name is bad or used."""
    if not NAME_PATTERN.match(name):
        raise CampaignError(
            f"campaign name {name!r}: expected letters, digits, '.', '_' or '-' "
            "(at most 64, starting with a letter or digit)"
        )
    path = settings.workspace.campaign(name)
    if path.exists():
        raise CampaignError(
            f"campaign {name!r} already exists ({path}): choose another name "
            "(a campaign's record is never overwritten)"
        )
    return path


def score_columns(scores: pd.DataFrame) -> list[str]:
    """The scores a campaign keeps for its members: every task's score, and value at risk."""
    wanted = [task.score for task in tasks.all_tasks()] + ["value_at_risk"]
    return [col for col in wanted if col in scores.columns]


def campaign_members(
    members: pd.DataFrame,
    table: ScoresTable,
    source: str,
    key: bytes | None = None,
    case_insensitive: bool = False,
    erased: ErasedUsers | None = None,
    id_width: int | None = None,
) -> pd.DataFrame:
    """Members with their scores at the table's as-of date; every member must be in it. With
    the pseudonym ``key``, a list of pseudonyms (`at-risk --pseudonymize`, the list an
    operator hands to a CRM) names its users by them: it could start no campaign. A member
    the ``erased`` users (the erasure log's) hold is refused as erased, not as unknown, and
    one unpadded where the ids are zero-padded to ``id_width`` digits ('3') saying so."""
    scores = table.frame
    known = pd.Index(scores[c.USER_ID].astype(str))
    members = under_real_ids(members, known, key)
    # an id written 18074.0 (a list saved through a float column) is the user ingest loaded
    # as 18074, as /score reads it (and C1@X.COM as c1@x.com: ``case_insensitive`` ids)
    listed = members[c.USER_ID]
    held = c.held_user_ids(listed.astype(str), case_insensitive)
    members = members.assign(**{c.USER_ID: [c.answering_user_id(u, known) for u in held]})
    twice = members[c.USER_ID].duplicated()
    if twice.any():
        row = int(np.flatnonzero(twice.to_numpy())[0])
        user = members[c.USER_ID].iloc[row]
        spellings = " and as ".join(dict.fromkeys(listed[members[c.USER_ID] == user]))
        raise CampaignError(
            f"{source}: row {row + 1}: user {user} is listed twice (as {spellings}: the same "
            "user); expected each user once"
        )
    unknown = ~members[c.USER_ID].isin(known)
    if unknown.any():
        _refuse_erased(members[c.USER_ID], unknown.to_numpy(), erased, source)
        # as written (repr): an id with a line break or spaces is one line, and shows them
        examples = ", ".join(repr(user) for user in members.loc[unknown, c.USER_ID].head(3))
        hint = next(filter(None, (padding_hint(u, id_width) for u in members[c.USER_ID])), "")
        raise CampaignError(
            f"{source}: {int(unknown.sum()):,} of {len(members):,} user ids are not users scored "
            f"as of {table.as_of} (e.g. {examples}); expected the ids of a list from "
            "`lifecycle at-risk` (pseudonyms with the key they were made with) and the scores "
            "table it came from"
            + (hint and f"; {hint}: a spreadsheet that saved the list read its ids as numbers")
        )
    held_out = int(members[CONTROL].sum())
    if held_out == 0:
        raise CampaignError(
            f"{source}: no control users (every row has control false): without a held-out "
            "group the campaign's effect cannot be measured; export the list again with "
            "--control-share above 0 (for a short list a larger share or another --seed: each "
            "user is drawn on their own, so a short list can draw none)"
        )
    if held_out == len(members):
        raise CampaignError(f"{source}: every user is in the control group: nobody is targeted")
    columns = [c.USER_ID, *score_columns(scores)]
    kept = scores[columns].assign(**{c.USER_ID: scores[c.USER_ID].astype(str)})
    return members[[c.USER_ID, CONTROL]].merge(kept, on=c.USER_ID, how="left")


def under_real_ids(members: pd.DataFrame, known: pd.Index, key: bytes | None) -> pd.DataFrame:
    """``members`` under the ``known`` ids their pseudonyms stand for (made with ``key``), when
    none of their ids is known and every one is such a pseudonym; else as they are."""
    if key is None or members[c.USER_ID].astype(str).isin(known).any():
        return members
    from lifecycle.pseudonyms import pseudonym

    real = {pseudonym(key, user): user for user in known}
    if not members[c.USER_ID].astype(str).isin(real).all():
        return members
    return members.assign(**{c.USER_ID: members[c.USER_ID].astype(str).map(real)})


def _refuse_erased(
    ids: pd.Series, unknown: np.ndarray, erased: ErasedUsers | None, source: str
) -> None:
    """Refuse a list naming users `lifecycle forget` erased since it was written, by their rows
    (never their ids): "not users scored ... expected the ids of a list from at-risk" sent the
    operator looking for a wrong file when the list was right and its users erased."""
    gone = unknown & erased.mask(ids) if erased is not None else None
    if gone is None or not gone.any():
        return
    rows = [str(row + 1) for row in np.flatnonzero(gone)]
    shown = ", ".join(rows[:5]) + (f" and {len(rows) - 5:,} more" if len(rows) > 5 else "")
    raise CampaignError(
        f"{source}: {len(rows):,} of {len(ids):,} users were erased by `lifecycle forget` after "
        f"the list was written (row{'s' * (len(rows) > 1)} {shown}): they may be neither "
        "contacted nor measured; remove those rows (`lifecycle forget ID... --scrub-exports` "
        "rewrites a list it registered) and start the campaign again"
    )


def start_campaign(
    settings: Settings,
    name: str,
    members: pd.DataFrame,
    table: ScoresTable,
    *,
    horizon_days: int,
    source: str,
    control_seed: int | None = None,
    measured_from: str | None = None,
) -> Campaign:
    """Record a campaign (written atomically; nothing is written when the input is bad);
    ``control_seed``: the seed its control flags were drawn with (a list's, when it says);
    ``measured_from``: the day outcomes count from, when later than the scores' date (a list
    sent after the day it was scored: the scores are the list's, the report reads from then)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lifecycle.storage import atomic_file

    path = check_name(settings, name)
    from lifecycle.setting_types import MAX_DAYS

    if not 1 <= horizon_days <= MAX_DAYS:  # past pandas' dates, `campaign list` failed for good
        raise CampaignError(
            f"--horizon-days {horizon_days}: expected 1 to {MAX_DAYS:,} days (as the settings' "
            "horizons)"
        )
    from features.batches import dataset_case_insensitive_ids

    found = settings.privacy.key()
    dataset = table.metadata.get("dataset", settings.dataset)
    folded = dataset_case_insensitive_ids(settings.workspace.dataset_dir(dataset))
    from features.erasure_log import erased_users

    try:
        erased = erased_users(settings, dataset).holding(folded)
    except UserError:  # an erasure's key is gone: its users read as unknown ids, as before
        erased = None
    width = padded_width(settings.workspace.events(dataset))  # '3' for '00003' said
    recorded = campaign_members(
        members, table, source, found[0] if found else None, folded, erased, width
    )
    as_of = table.as_of
    if measured_from is not None:
        from features.dates import cutoff_date

        as_of = f"{cutoff_date(measured_from):%Y-%m-%d}"
        if as_of < str(table.as_of):
            raise CampaignError(
                f"--as-of {measured_from} is before {table.as_of}, the date of the scores "
                "recorded: its report would count as outcomes the events they had already seen"
            )
    metadata = {
        "name": name,
        "dataset": dataset,
        "as_of": as_of,
        SCORED_AT: table.as_of,
        "horizon_days": horizon_days,
        "source": source,
        CONTROL_SEED_KEY: control_seed,
        "scores": str(table.path) if table.path else "scored in memory",
        "model_versions": table.metadata.get("model_versions", {}),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        NOT_ACTIVITY_TYPES: sorted(settings.labels.not_activity_types),
    }
    arrow = pa.Table.from_pandas(recorded, preserve_index=False)
    arrow = arrow.replace_schema_metadata(
        {**(arrow.schema.metadata or {}), METADATA_KEY: json.dumps(metadata).encode()}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as staging:
        pq.write_table(arrow, staging, compression="zstd")
    return Campaign(name, recorded, metadata, path)


def campaign_dataset(path: Path) -> str | None:
    """The dataset a campaign record was started on (its metadata), if it says."""
    from lifecycle.exports import metadata_dataset

    return metadata_dataset(path, METADATA_KEY)


def read_campaign(settings: Settings, name: str) -> Campaign:
    import pyarrow.parquet as pq

    path = settings.workspace.campaign(name)
    if not NAME_PATTERN.match(name) or not path.is_file():
        known = ", ".join(
            settings.workspace.campaign_name(p) for p in settings.workspace.campaigns()
        )
        raise CampaignError(
            f"no campaign named {name!r} in {settings.workspace.campaigns_dir} "
            f"(known: {known or 'none'}); start one with `lifecycle campaign start`"
        )
    try:
        arrow = pq.read_table(path)
        metadata = json.loads((arrow.schema.metadata or {})[METADATA_KEY])
        campaign = Campaign(name, arrow.to_pandas(), metadata, path)
        campaign.summary()  # its fields as listed: as_of, horizon_days, the members' control
    except (OSError, ValueError, KeyError, TypeError) as error:  # ArrowInvalid: a ValueError
        raise CampaignError(
            f"campaign {name}: its record {path} cannot be read ({type(error).__name__}: "
            f"{str(error)[:200]}); it was damaged or is no campaign record"
        ) from None
    return campaign


def list_campaigns(settings: Settings, unreadable: list[str] | None = None) -> list[Campaign]:
    """Every recorded campaign; one whose record cannot be read is named in ``unreadable``
    (when given) and the others listed, else refused."""
    ws = settings.workspace
    found = []
    for path in ws.campaigns():
        try:
            found.append(read_campaign(settings, ws.campaign_name(path)))
        except CampaignError as error:
            if unreadable is None:
                raise
            unreadable.append(str(error))
    return found


# -- outcomes and the report --------------------------------------------------------------


def _task_with(outcome: str) -> tasks.Task:
    for task in tasks.all_tasks():
        if task.outcome == outcome:
            return task
    raise CampaignError(f"no declared task has the outcome {outcome!r} a campaign measures")


def last_event_time(events: Path | pd.DataFrame) -> pd.Timestamp:
    from features.asof import _relation, connect

    con = connect()
    _relation(con, "events", events)
    last = con.execute(f"SELECT max({c.EVENT_TIME}) FROM events").fetchone()[0]
    if last is None:
        raise CampaignError("the events table is empty: no outcome can be measured")
    stamp = pd.Timestamp(last)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def campaign_outcomes(
    events: Path | pd.DataFrame,
    users: Path | pd.DataFrame | None,
    as_of: pd.Timestamp,
    horizon_days: int,
    user_ids: pd.Series,
    *,
    not_activity_types: Sequence[str],
) -> pd.DataFrame:
    """(user_id, retention, conversion, revenue) in ``(as_of, as_of + horizon]``, per user.

    Read by the label code from events after ``as_of`` only; a user unknown at ``as_of``
    (erased since, or never seen) is left out. Retention is the churn label's activity:
    ``not_activity_types`` (``labels.not_activity_types``, a failed payment) retain nobody.
    """
    from features.labels import LABEL, LabelSpec, compute_labels

    out = pd.DataFrame({c.USER_ID: user_ids.astype(str).to_numpy()})
    for measure, (outcome, inverted) in MEASURES.items():
        quiet = tuple(not_activity_types) if outcome == "no_activity" else ()
        spec = LabelSpec(_task_with(outcome).name, horizon_days, not_activity_types=quiet)
        labels = compute_labels(
            events, [as_of], spec, users=users, every_known_user=True, floored=False
        )
        values = labels.set_index(c.USER_ID)[LABEL].astype(float)
        out[measure] = (1 - values if inverted else values).reindex(out[c.USER_ID]).to_numpy()
    return out.dropna().reset_index(drop=True)


@dataclass
class CampaignReport:
    """The campaign's measured effects and what they are worth."""

    campaign: Campaign
    effects: dict[str, Effect]
    measured_users: int
    data_ends: pd.Timestamp
    unmeasured: int = 0  # members no longer in the data (erased)
    outcomes: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    units: Units = field(default_factory=Units)  # revenue and value are purchases counted?
    # other campaigns that targeted some of its control users in its horizon (campaign_overlap)
    targeted_elsewhere: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def users_saved(self) -> dict[str, Any]:
        return self.effects["retention"].saved()

    @property
    def value_saved(self) -> dict[str, Any]:
        return self.effects["revenue"].saved()

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.campaign.summary(),
            "data_ends": f"{self.data_ends:%Y-%m-%d}",
            "measured_users": self.measured_users,
            "unmeasured_users": self.unmeasured,
            "effects": {k: e.to_dict() for k, e in self.effects.items()},
            "not_judged": self.effects["retention"].too_small,
            "users_saved": self.users_saved,
            "value_saved": self.value_saved,
            "control_targeted_elsewhere": self.targeted_elsewhere,
            "expected_retention": expected_retention(self.campaign.members, CONTROL),
        }

    def lines(self) -> list[str]:
        info = self.campaign.summary()
        scored = info[SCORED_AT]
        lines = [
            f"campaign {info['name']}: as of {info['as_of']}"
            + (f" (members' scores as of {scored})" if scored != info["as_of"] else "")
            + f", {info['horizon_days']}-day horizon (to {info['horizon_end']}); "
            f"{info['targeted']:,} targeted, {info['control']:,} control",
            *([f"  from {info['source']}"] if info.get("source") else []),  # whom it targeted
        ]
        for measure, effect in self.effects.items():
            if measure in PROPORTIONS:
                lines.append(
                    f"  {measure:<10} targeted {effect.targeted_mean:.1%}  control "
                    f"{effect.control_mean:.1%}  difference {effect.difference:+.1%} "
                    + effect.interval_words(".1%")
                )
            else:
                lines.append(
                    f"  {self.units.value_name(measure):<10} targeted {effect.targeted_mean:,.2f}  control "
                    f"{effect.control_mean:,.2f}  difference {effect.difference:+,.2f} per user "
                    + effect.interval_words(",.2f")
                )
        lines.append(f"  users saved {self.effects['retention'].saved_words(',.1f')}")
        unit = f" {self.units.value_name('revenue')}" if self.units.counted else ""
        lines.append(f"  value saved {self.effects['revenue'].saved_words(',.0f', unit)}")
        if expected := expected_retention(self.campaign.members, CONTROL):  # the draw's own
            lines.append(expected_line(expected, self.units, self.campaign.horizon_days))
        small = self.effects["retention"].too_small
        if small:  # every measure compares the same two groups
            lines.append(f"  {small}: hold out more users in the next campaign")
        if self.unmeasured:
            lines.append(f"  {self.unmeasured:,} members are no longer in the data (not measured)")
        if self.targeted_elsewhere:
            from serving.campaign_overlap import targeted_elsewhere_line

            lines.append(targeted_elsewhere_line(self.targeted_elsewhere, info["control"]))
        return lines


def measure(campaign: Campaign, outcomes: pd.DataFrame) -> dict[str, Effect]:
    """Targeted vs control on each measure, for the members with outcomes."""
    joined = campaign.members[[c.USER_ID, CONTROL]].merge(outcomes, on=c.USER_ID, how="inner")
    control = joined[CONTROL].to_numpy(dtype=bool)
    try:
        return {
            m: (proportion_difference if m in PROPORTIONS else mean_difference)(
                joined[m].to_numpy(float), control
            )
            for m in MEASURES
        }
    except ValueError as error:
        raise CampaignError(f"campaign {campaign.name}: {error}") from None


def report_campaign(settings: Settings, name: str) -> CampaignReport:
    """Measure a campaign whose horizon has passed in the ingested events."""
    campaign = read_campaign(settings, name)
    horizon_end = campaign.horizon_end  # a horizon no data can reach: first, in one line
    dataset = str(campaign.metadata.get("dataset") or settings.dataset)
    events = settings.workspace.events(dataset)
    if not events.is_file():
        raise CampaignError(
            f"campaign {name}: dataset {dataset!r} has no events at {events}: ingest it first"
        )
    data_ends = last_event_time(events)
    if horizon_end > data_ends:
        raise CampaignError(
            f"campaign {name}: its {campaign.horizon_days}-day horizon ends "
            f"{horizon_end:%Y-%m-%d} but the events of {dataset!r} end "
            f"{data_ends:%Y-%m-%d}: report once events up to then are ingested"
        )
    outcomes = campaign_outcomes(
        events,
        settings.workspace.users_if_any(dataset),
        campaign.as_of,
        campaign.horizon_days,
        campaign.members[c.USER_ID],
        not_activity_types=campaign.not_activity_types(settings.labels.not_activity_types),
    )
    effects = measure(campaign, outcomes)
    from serving.campaign_overlap import targeted_elsewhere

    return CampaignReport(
        campaign,
        effects,
        measured_users=len(outcomes),
        data_ends=data_ends,
        unmeasured=len(campaign.members) - len(outcomes),
        outcomes=outcomes,
        units=units_for(settings, {"dataset": dataset}),
        targeted_elsewhere=targeted_elsewhere(settings, campaign),
    )


def scores_at(
    settings: Settings, as_of: str | None, dataset: str | None = None, step: str = SCORES_STEP
) -> ScoresTable:
    """The scores of every user at ``as_of``: the newest scores table of that date, else
    scored in memory with the champions (nothing written); the latest table without a date.
    ``step``: what reads them, in a refusal."""
    from serving.batch import ScoresTable, find_scores, latest_scores, score_all

    if as_of is None:
        return latest_scores(settings, dataset, step)
    from features.dates import cutoff_date

    stamp = cutoff_date(as_of)
    found = find_scores(settings, stamp, dataset, step)
    if found is not None:
        return found
    # A task without a champion leaves its score out; the campaign keeps what there is.
    result = score_all(
        settings, stamp, dataset=dataset, write=False, reasons_top=0, allow_partial=True
    )
    return ScoresTable(
        frame=result.scores,
        metadata={
            "dataset": dataset or settings.dataset,
            "as_of": f"{result.as_of:%Y-%m-%d}",
            "model_versions": result.versions,
        },
    )
