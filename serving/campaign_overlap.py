"""Control users of a campaign that another campaign targeted within its horizon.

A held-out user contacted by a later campaign before this one's horizon ends is counted as
control all the same: its outcome carries the other campaign's effect, and the difference
understates this one's. One seed for every list keeps the same users held out of all of
them; a seed of each campaign (`campaign start` draws one from the name) does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from features import contract as c

NAMED = 5  # campaigns the report's line names; --json gives every one

if TYPE_CHECKING:
    from lifecycle.settings import Settings
    from serving.campaigns import Campaign


def targeted_elsewhere(settings: Settings, campaign: Campaign) -> dict[str, dict[str, Any]]:
    """Each other campaign of the same dataset started in ``[as_of, horizon end)`` of
    ``campaign`` that targeted some of its control users -> ``users`` (how many) and
    ``as_of`` (its date)."""
    from serving.campaigns import CONTROL, list_campaigns

    members = campaign.members
    held_out = set(members.loc[members[CONTROL].astype(bool), c.USER_ID].astype(str))
    dataset = campaign.metadata.get("dataset")
    found = {}
    for other in list_campaigns(settings, unreadable=[]):  # a damaged record: named elsewhere
        if other.name == campaign.name or other.metadata.get("dataset") != dataset:
            continue
        if not campaign.as_of <= other.as_of < campaign.horizon_end:
            continue  # a contact before this one reached both groups alike
        theirs = other.members
        targeted = set(theirs.loc[~theirs[CONTROL].astype(bool), c.USER_ID].astype(str))
        if shared := len(held_out & targeted):
            found[other.name] = {"users": shared, "as_of": f"{other.as_of:%Y-%m-%d}"}
    return found


def targeted_elsewhere_line(found: dict[str, dict[str, Any]], control: int) -> str:
    """The report's line for :func:`targeted_elsewhere`, of a campaign of ``control`` users
    held out: the ``NAMED`` campaigns that targeted most of them, most first, and how many
    more (every one in ``--json``). Each was named, by name: 79 campaigns started on one
    at-risk list (an A/A test on online_retail, session 54) made one line of 9,000
    characters, the campaign that reached most of them lost in it."""
    ranked = sorted(found.items(), key=lambda item: (-item[1]["users"], item[0]))
    by = "; ".join(
        f"{n['users']:,} of {control:,} by {name} (as of {n['as_of']})"
        for name, n in ranked[:NAMED]
    )
    if len(ranked) > NAMED:
        by += (
            f"; and by {len(ranked) - NAMED:,} more campaigns, none of them more "
            "(`campaign report --json` names every one: control_targeted_elsewhere)"
        )
    return (
        f"  control users targeted by another campaign within its horizon: {by}; counted as "
        "control, they carry that campaign's effect, so the difference understates this one's"
    )
