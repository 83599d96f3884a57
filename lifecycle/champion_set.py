"""The champions of one training of several tasks move together, once every task is judged.

A running service follows every champion alias move (``serving.follow``): when each task's
gate moved its alias as soon as that task was trained, a refresh served churn v3 with LTV
v1 for minutes, a pair never evaluated together. Within :func:`moved_together` the gate's
moves (``registry.set_champion``) are staged instead; every read of a champion alias in
the same context (``registry.alias_version``: the later gates, compiling the winner) sees
them, so each gate's verdict is the one it gave when the moves were immediate. At the end
they are made one after the other and the aliases mirror, which the service reads, is
rewritten once for all of them. When the training fails or is stopped, none is made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lifecycle import aliases_mirror, registry
from lifecycle.tracking_http import failed_request, went_silent

if TYPE_CHECKING:
    from lifecycle.settings import Settings


@dataclass(frozen=True)
class Move:
    """A champion move the gate asked for, and the champion it judged against (``seen``)."""

    name: str
    version: str
    reason: str
    by_gate: bool
    seen: str | None


@dataclass
class StagedChampions:
    """The moves staged in one registry (``uri``), in the order the gates asked for them."""

    uri: str
    moves: list[Move] = field(default_factory=list)

    def champion(self, name: str) -> str | None:
        """The version the last staged move of ``name`` makes champion, if any."""
        return next((m.version for m in reversed(self.moves) if m.name == name), None)

    def winners(self) -> str:
        """'demo-churn v3, demo-ltv v2': each model's version staged to serve."""
        last = {m.name: m.version for m in self.moves}
        return ", ".join(f"{name} v{version}" for name, version in last.items())

    def won(self) -> tuple[str, str]:
        """'won their gates', 'them' (of several winners) or 'won its gate', 'it'."""
        several = len({m.name for m in self.moves}) > 1
        return ("won their gates", "them") if several else ("won its gate", "it")


_STAGED: ContextVar[StagedChampions | None] = ContextVar("staged_champions", default=None)


def _staged_in(mlflow_client: Any) -> StagedChampions | None:
    staged = _STAGED.get()
    if staged is None:
        return None
    if isinstance(mlflow_client, registry.MirroredRegistry):
        uri = registry.tracking_uri(mlflow_client.settings)
    else:
        uri = str(getattr(mlflow_client, "_registry_uri", ""))
    return staged if uri == staged.uri else None


def staged_version(mlflow_client: Any, name: str) -> Any | None:
    """The model version a staged move makes champion of ``name`` in this client's registry."""
    staged = _staged_in(mlflow_client)
    version = staged.champion(name) if staged is not None else None
    if version is None:
        return None
    return _registry(mlflow_client).get_model_version(name, version)


def _registry(mlflow_client: Any) -> Any:
    """The MLflow client behind a mirror of the aliases, or the client itself."""
    if isinstance(mlflow_client, registry.MirroredRegistry):
        return mlflow_client.registry()
    return mlflow_client


def stage(mlflow_client: Any, name: str, version: str, reason: str, by_gate: bool) -> bool:
    """Stage a champion move when a :func:`moved_together` block is open on this registry
    (True), else leave it to be made now (False)."""
    staged = _staged_in(mlflow_client)
    if staged is None:
        return False
    earlier = next((m for m in staged.moves if m.name == name), None)
    if earlier is not None:
        seen = earlier.seen
    else:  # the champion its gate judged against
        champion = registry.alias_version(mlflow_client, name, registry.CHAMPION)
        seen = str(champion.version) if champion is not None else None
    staged.moves.append(Move(name, str(version), reason, by_gate, seen))
    # never judged should the process die before the moves are made (SIGKILL, OOM)
    _registry(mlflow_client).set_model_version_tag(name, str(version), registry.STAGED_TAG, "true")
    return True


class ChampionsMovedMeanwhile(registry.PromotionError):
    """A champion was moved by another hand while the training judged against it."""


@contextmanager
def moved_together(
    settings: Settings, progress: Callable[[str], None] = lambda message: None
) -> Iterator[StagedChampions]:
    """Stage the gates' champion moves made inside; make them all at the end of the block,
    or none when it raises (said through ``progress`` and as a note of the error, which
    refresh shows). A winner left unmoved loses its gate verdict: it counts as never judged,
    so `lifecycle refresh` trains its task again."""
    staged = StagedChampions(registry.tracking_uri(settings))
    token = _STAGED.set(staged)
    try:
        yield staged
    except BaseException as error:
        _STAGED.reset(token)
        went_silent(error)  # a tracking server down: withholding tries once
        if staged.moves:
            won, them = staged.won()
            said = (
                f"no champion moved: {staged.winners()} {won}, but the training stopped "
                f"before every task was judged; `lifecycle train all` (or `lifecycle refresh`) "
                f"judges {them} again"
            )
            _withhold(registry.client(settings, fluent=False), staged)
            progress(said)
            error.add_note(said)
        raise
    _STAGED.reset(token)
    _make(settings, staged)


def _withhold(mlflow_client: Any, staged: StagedChampions) -> None:
    """Take the gate's verdict off the staged winners: judged again by the next training
    (refresh's model_problem: never judged)."""
    for name, version in _staged_versions(staged):
        mlflow_client.delete_model_version_tag(name, version, registry.GATE_TAG)
        mlflow_client.delete_model_version_tag(name, version, registry.STAGED_TAG)


def _staged_versions(staged: StagedChampions) -> list[tuple[str, str]]:
    """Each (model, version) a staged move names, once."""
    return list(dict.fromkeys((m.name, m.version) for m in staged.moves))


def _make(settings: Settings, staged: StagedChampions) -> None:
    """Make the staged moves, or none when a champion judged against moved meanwhile."""
    if not staged.moves:
        return
    mlflow_client = registry.client(settings, fluent=False)
    moved = []
    # each model's last move (every move of a model records the champion its first judged)
    for move in {m.name: m for m in staged.moves}.values():
        champion = registry.alias_version(mlflow_client, move.name, registry.CHAMPION)
        now = str(champion.version) if champion is not None else None
        if now != move.seen:
            moved.append(f"{move.name}'s champion is v{now}, the gate judged against v{move.seen}")
    if moved:
        _withhold(mlflow_client, staged)
        won, them = staged.won()
        raise ChampionsMovedMeanwhile(
            f"no champion moved: {'; '.join(moved)} (moved by hand during the training); "
            f"{staged.winners()} {won} against the champions before: `lifecycle train all` "
            f"judges {them} again"
        )
    made: list[Move] = []
    for move in staged.moves:
        try:
            registry.move_champion(
                mlflow_client, move.name, move.version, move.reason, move.by_gate
            )
        except Exception as error:  # the tracking server refused or failed one part-way
            if failed_request(error):
                error.add_note(_moves_left(settings, mlflow_client, staged, made, move, error))
            raise
        made.append(move)
    for name, version in _staged_versions(staged):
        mlflow_client.delete_model_version_tag(name, version, registry.STAGED_TAG)
    aliases_mirror.mirror_aliases(mlflow_client, *dict.fromkeys(m.name for m in staged.moves))


def _moves_left(
    settings: Settings,
    mlflow_client: Any,
    staged: StagedChampions,
    made: list[Move],
    failed: Move,
    error: Exception,
) -> str:
    """Which champions a training's moves made before ``failed``'s request failed and which
    stay (its alias read back when the server answered: refused, an HTTP error), and what
    judges the rest again: their winners stay staged, so never judged. (A failed request is
    a tracking server's: no aliases mirror, which only a SQLite registry has, to rewrite.)"""
    moved = {m.name: m.version for m in made}
    champion = registry.champion_after(mlflow_client, failed.name, error)
    if champion == failed.version:
        moved[failed.name] = failed.version
    left = [m for m in {m.name: m for m in staged.moves}.values() if moved.get(m.name) != m.version]
    said = [f"{name}'s champion moved to v{version}" for name, version in moved.items()]
    for move in left:
        if move.name == failed.name and champion == registry.UNREAD:
            said.append(f"{move.name}'s may have moved to v{move.version} part-way")
        else:
            still = f"it is still v{move.seen}" if move.seen else "it has none"
            said.append(f"{move.name}'s did not move to v{move.version} ({still})")
    tasks = [_task_of(settings, m.name) for m in left]
    again = (  # `train` takes one task or all
        f"`lifecycle train {tasks[0]}` (or `lifecycle refresh`) judges it again"
        if len(tasks) == 1
        else f"`lifecycle refresh` (or `lifecycle train` of each: {', '.join(tasks)}) judges "
        "them again"
    )
    head = "champions moved part-way" if moved else "no champion moved"
    return f"{head}: {'; '.join(said)}; {again}"


def _task_of(settings: Settings, name: str) -> str:
    """The task of model ``name`` ('demo-ltv': ltv, with ``--dataset`` for another dataset)."""
    dataset, task = name.rsplit("-", 1)
    return task if dataset == settings.dataset else f"{task} --dataset {dataset}"
