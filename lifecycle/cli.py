"""The ``lifecycle`` command: a thin layer over the stages' functions.

Heavy libraries (pandas, Feast, MLflow, LightGBM) are imported inside the commands so
that ``lifecycle --help`` answers at once.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lifecycle.console import Console, emit_error, route_library_output
from lifecycle.errors import UserError, command_options, interrupted, sigterm_stops

if TYPE_CHECKING:  # imported when a command runs: `lifecycle --help` stays fast
    from lifecycle.settings import Settings


@dataclass
class Context:
    settings: Settings
    console: Console


class LifecycleGroup(click.Group):
    """Turns errors a user can act on into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        # what was asked, before click consumes it (click 9 keeps the command in ``args``)
        ctx.meta.setdefault(ASKED, [*getattr(ctx, "_protected_args", []), *ctx.args])
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as error:
            _said_stopped(ctx, error)
            raise
        except click.NoSuchOption as error:  # `lifecycle at-risk --json`: say where it goes
            if error.ctx is None:
                raise
            command = error.ctx.command_path.removeprefix(f"{ctx.command_path} ")
            # `forget -5`: an id, not an option (click names `-17850` by its `-1` alone)
            given = ctx.meta.get(ASKED, [])
            if number := next((a for a in given if _negative(a, error.option_name)), None):
                raise click.UsageError(
                    f"No such option '{number}'. An argument that begins with '-' (the id "
                    f"{number}) goes after `--`, which ends the options: lifecycle {command} "
                    f"[OPTIONS] -- {number}",
                    error.ctx,
                ) from None
            if error.option_name not in GLOBAL_OPTIONS:
                raise
            raise click.UsageError(
                f"{error.option_name} is an option of lifecycle itself, given before the "
                f"command: lifecycle {GLOBAL_OPTIONS[error.option_name]} {command} ...",
                error.ctx,
            ) from None
        except UserError as error:
            emit_error(bool(ctx.params.get("as_json")), str(error))
        except OSError as error:
            if error.errno not in UNWRITABLE:
                raise
            emit_error(bool(ctx.params.get("as_json")), _unwritable(ctx, error))
        except Exception as error:
            # an OSError or SQLite's under MLflow's or SQLAlchemy's; a tracking server down
            said = _store_unwritable(ctx, error) or _tracking_server_silent(ctx, error)
            if said is not None:
                emit_error(bool(ctx.params.get("as_json")), said)
                return None
            _said_stopped(ctx, error)  # a library's own error after SIGTERM: the stop's
            if not interrupted(error):
                raise
            # Ctrl-C inside a DuckDB query: the same "Aborted!" as anywhere else, not a trace
            # (what was being written is staging, removed by the next write).
            raise click.Abort() from None


def _negative(arg: str, option: str) -> bool:
    """Whether ``arg`` of the command line is a negative number (an id ``-5``, ``-17850.0``)
    that click read as the unknown short ``option``."""
    return arg.startswith(option) and re.fullmatch(r"-\d[\d.,]*", arg) is not None


# Commands a scheduler's SIGTERM stops in one line, the workspace as it was (each of their
# files is written to a staging name and renamed when whole): they died at once, no line
# (exit -15). `train` and `refresh` say their own (what they kept); `serve` has its own.
STOPPED_IN_ONE_LINE = frozenset({"ingest", "score-all", "backtest", "campaign"})


def _said_stopped(ctx: click.Context, error: BaseException) -> None:
    """A command of :data:`STOPPED_IN_ONE_LINE` stopped by SIGTERM: one line, exit 143."""
    import signal

    from lifecycle.errors import stop_signal, stop_words, stopped_by

    if ctx.parent is not None or ctx.invoked_subcommand not in STOPPED_IN_ONE_LINE:
        return
    if not stopped_by(error) or stop_signal(error) != signal.SIGTERM:
        return  # Ctrl-C: click's "Aborted!", as before
    said, exit_code = stop_words(signal.SIGTERM)
    asked = " ".join(_command_words(ctx))
    line = (
        f"{said} during `lifecycle {asked}`: nothing it was writing was kept, the workspace "
        f"is as it was before it; `lifecycle {asked}` does it again"
    )
    if ctx.params.get("as_json"):
        click.echo(json.dumps({"status": "interrupted", "error": line, "exit_code": exit_code}))
    click.echo(f"Error: {line}", err=True)
    ctx.exit(exit_code)


ASKED = "lifecycle.asked"  # ctx.meta: the command line after lifecycle's own options


def _command_words(ctx: click.Context) -> list[str]:
    """The command's names as asked (`campaign start`), its arguments left out."""
    words = ctx.meta.get(ASKED, [])
    group: Any = ctx.command
    named = []
    for word in words:
        command = group.get_command(ctx, word) if isinstance(group, click.Group) else None
        if command is None:
            break
        named.append(word)
        group = command
    return named


def shows_help(ctx: click.Context) -> bool:
    """Whether the command line asks a command's help (`lifecycle ingest --help`, `lifecycle
    datasets history -h`), read as click will read it: `--dataset -h` gives a value. Click
    runs lifecycle's callback before it reads the command's options, so its help read the
    settings first (pydantic-settings: 0.2 CPU-s) and a bad settings file refused it."""
    group: click.Command = ctx.command
    words = ctx.meta.get(ASKED, [])
    try:
        while words and isinstance(group, click.Group):
            command = group.get_command(ctx, words[0])
            if command is None:
                return False
            own = click.Context(command, info_name=words[0], parent=ctx, resilient_parsing=True)
            given, words, _ = command.make_parser(own).parse_args(words[1:])
            option = command.get_help_option(own)
            if option is not None and given.get(option.name):
                return True
            group = command
    except click.ClickException:  # a misspelt option: said when the command is read
        return False
    return False


# lifecycle's own options, as written before a command (`--home DIR at-risk`)
GLOBAL_OPTIONS = {
    **{name: name for name in ("--json", "--quiet", "-q", "--verbose", "-v")},
    "--home": "--home DIR",
    "--config": "--config FILE",
}
# A workspace (or disk) that cannot take a write: the user's to fix, so one line. The files
# already there are intact: every write goes to a staging name and is renamed when whole.
UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


# A disk (or the user's quota on it) with no room left: freeing space is the way on
NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


def _unwritable(ctx: click.Context, error: OSError) -> str:
    from lifecycle.storage import staging_target

    context = ctx.obj if isinstance(ctx.obj, Context) else None
    home = context.settings.workspace.home if context else None
    target = staging_target(Path(error.filename)) if error.filename else None
    if error.errno in NO_SPACE:
        where = target or home
        free = _free_space(where) if where is not None else None
        return (
            f"cannot write {where or 'in the workspace'}: {os.strerror(error.errno)}"
            + (f" ({_size(free)} free there)" if free is not None else "")
            + "; free space on that disk and run the command again; the files already there "
            "are unchanged"
        )
    where = f" {target}" if target else ""
    return (
        f"cannot write{where}: {error.strerror}; make the workspace{f' {home}' if home else ''} "
        "writable (and the disk not full) and run the command again; the files already there "
        "are unchanged"
    )


def _size(size: int) -> str:
    return f"{size / (1 << 20):,.1f} MB" if size >= 1 << 20 else f"{size // 1024:,} KB"


def _free_space(path: Path) -> int | None:
    """The bytes free on the disk holding ``path`` (its nearest folder that exists)."""
    import shutil

    folder = next((p for p in (path, *path.parents) if p.is_dir()), None)
    try:
        return shutil.disk_usage(folder).free if folder else None
    except OSError:
        return None


# SQLite's words for a database that cannot take a write (the MLflow store)
SQLITE_UNWRITABLE = ("readonly database", "disk is full", "disk I/O error")


def _store_unwritable(ctx: click.Context, error: BaseException) -> str | None:
    """One line for a write that failed deep in a library (MLflow registering a model into a
    read-only or full store: 159 and 321 lines of traceback), else None."""
    seen: set[int] = set()
    found: BaseException | None = error
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        if isinstance(found, OSError) and found.errno in UNWRITABLE:
            return _unwritable(ctx, found)
        if (failed := _duckdb_unwritable(found)) is not None:
            return _unwritable(ctx, failed)
        if type(found).__name__ == "OperationalError" and any(
            words in str(found) for words in SQLITE_UNWRITABLE
        ):
            context = ctx.obj if isinstance(ctx.obj, Context) else None
            where = context.settings.workspace.home if context else "the workspace"
            said = str(found).splitlines()[0].removeprefix("(sqlite3.OperationalError) ")
            return (
                f"cannot write the model registry (MLflow's SQLite store in {where}): {said}; "
                "make it writable (and the disk not full) and run the command again; the "
                "models already registered are unchanged"
            )
        found = found.__cause__ or found.__context__
    return None


def _tracking_server_silent(ctx: click.Context, error: Exception) -> str | None:
    """One line naming ``tracking.uri`` (and what a training undid) for MLflow's failed
    request to a tracking server (down, or an HTTP error): a traceback of 130 to 180 lines
    from `models`, `promote`, `train`, `score-all`; else None."""
    from lifecycle.tracking_http import unreachable

    context = ctx.obj if isinstance(ctx.obj, Context) else None
    named = unreachable(context.settings, error) if context else None
    if named is None:
        return None
    return "; ".join([str(named), *getattr(named, "__notes__", [])])


def _duckdb_unwritable(error: BaseException) -> OSError | None:
    """DuckDB's failed write ('IO Error: ... Could not write file "X": No space left on
    device","errno":"28"') as the OSError it reports, naming its file; else None."""
    import re

    if type(error).__name__ != "IOException":
        return None
    code = re.search(r'"errno":\s*"(\d+)"', str(error))
    if code is None or int(code[1]) not in UNWRITABLE:
        return None
    file = re.search(r'Could not write file \\?"([^"\\]+)\\?"', str(error))
    return OSError(int(code[1]), os.strerror(int(code[1])), file[1] if file else None)


pass_context = click.make_pass_decorator(Context)

# Commands that may predict with LightGBM boosters but never train: in their own process
# (the `lifecycle` script, :func:`run`) LightGBM, when a booster is loaded, comes without
# scikit-learn, whose import (~0.9 CPU-s with the SciPy parts it pulls) only LightGBM's
# estimator classes need (`lightgbm.dask` training), which these commands never reach. Not in
# a process that called ``main`` itself (a test's CliRunner): it may train afterwards.
PREDICT_ONLY = frozenset({"score-all", "report", "monitor", "outcomes", "segments", "movers"})
_OWN_PROCESS = False


def run(args: list[str] | None = None) -> None:
    """The ``lifecycle`` script: :func:`main` in a process of its own (``args``: instead of
    the command line's)."""
    import atexit

    global _OWN_PROCESS
    _OWN_PROCESS = True
    # Registered first, so run last: after the threads are joined and every other exit
    # handler (MLflow's, logging's) ran with the collector on.
    atexit.register(exit_without_collecting)
    main(args=args, prog_name="lifecycle")


def exit_without_collecting() -> None:
    """Keep the garbage collector off for the process's end. Python's shutdown collected the
    ~350,000 objects of MLflow, Feast and pandas again and again as it emptied the modules:
    1 CPU-s and 2-4 s of wall after the last line of every command (`lifecycle models` on
    the demo, measured). Files are still flushed and closed, modules still torn down."""
    import gc

    gc.disable()
    gc.freeze()  # what exists now is never traversed again


def changes_workspace(
    command: Callable[..., Any] | None = None,
    *,
    when: Callable[[dict[str, Any]], bool] | None = None,
) -> Any:
    """The command changes the workspace (``when`` its arguments say so): it runs only
    while no other such command does (:mod:`lifecycle.workspace_lock`). Placed above
    ``pass_context``."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def locked(*args: Any, **kwargs: Any) -> Any:
            from lifecycle.workspace_lock import changing

            ctx = click.get_current_context()
            if when is not None and not when(kwargs):
                return function(*args, **kwargs)
            home = ctx.find_object(Context).settings.workspace.home
            name = ctx.command_path.partition(" ")[2] or ctx.command_path
            with changing(home, name):
                return function(*args, **kwargs)

        return locked

    return decorate(command) if command is not None else decorate


@click.group(cls=LifecycleGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="LIFECYCLE_HOME",
    help="Workspace directory for everything a run produces [env LIFECYCLE_HOME; default ./workspace].",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="LIFECYCLE_CONFIG",
    help="Settings file (TOML) [env LIFECYCLE_CONFIG; default $LIFECYCLE_HOME/lifecycle.toml].",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON (progress stays on stderr)."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Also show what the libraries underneath say (MLflow, Feast, alembic, BentoML).",
)
@click.version_option(package_name="lifecycle")
@click.pass_context
def main(
    ctx: click.Context,
    home: Path | None,
    config: Path | None,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Lifecycle: churn, conversion and LTV scores for every user, and the lists to act on.

    Start with `lifecycle run`: it generates the demo product's data and takes it
    through the pipeline. Every command has --help.
    """
    if shows_help(ctx):  # a command's --help: no settings read (0.2 CPU-s, and a bad one)
        return
    from lifecycle.settings import load_settings

    settings = load_settings(config=config, home=home)
    from lifecycle.storage import not_a_folder, uncreatable_folder

    home_dir = settings.workspace.home
    # one line before any work, not the traceback of the first write into it
    if why := not_a_folder(home_dir) or uncreatable_folder(home_dir):
        raise UserError(
            f"workspace {home_dir} (--home, LIFECYCLE_HOME): cannot be a folder: "
            f"{why}; choose another --home"
        )
    if _OWN_PROCESS and ctx.invoked_subcommand in PREDICT_ONLY:
        from lifecycle.lightgbm_import import predict_only_process

        predict_only_process()
    console = Console(as_json=as_json, quiet=quiet, verbose=verbose)
    route_library_output(console)
    console.start_heartbeat()
    ctx.call_on_close(console.close)
    ctx.obj = Context(settings=settings, console=console)
    # what a refusal may suggest: only options this command has (a group's: any)
    name = ctx.invoked_subcommand
    command = main.get_command(ctx, name) if name else None
    leaf = command is not None and not isinstance(command, click.Group)
    ctx.with_resource(
        command_options([o for p in command.params for o in p.opts] if leaf else None)
    )
    if name in STOPPED_IN_ONE_LINE:  # SIGTERM met as Ctrl-C is, then said (LifecycleGroup)
        ctx.with_resource(sigterm_stops())


@main.group(invoke_without_command=True)
@click.pass_context
def datasets(ctx: click.Context) -> None:
    """List the datasets in the workspace with their row counts; `history` and `restore`
    show and bring back earlier versions of one; `check` finds cells an erasure damaged;
    `retire-store` removes a Redis gone for good from one's record of online stores
    (`--all-datasets`: from every one's); `not-ids` declares columns that never hold an id."""
    if ctx.invoked_subcommand is not None:
        return
    from features.dataset_summary import read_dataset_summary
    from lifecycle.dataset_kind import REPORT

    obj = ctx.find_object(Context)
    # the listing repeats each ingest's notes: none may suggest an option it does not have
    # (an imported dataset's said `--keep-repeats`, an option of import, not of `datasets`)
    ctx.with_resource(command_options([]))

    root = obj.settings.workspace.home / "datasets"
    found = sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.is_dir() else []
    listed, lines = [], []
    for folder in (p for p in found if (p / REPORT).is_file()):
        try:
            summary = read_dataset_summary(folder)
        except UserError as error:  # one damaged report: the others are still listed
            listed.append({"name": folder.name, "path": str(folder), "error": str(error)})
            lines.append(f"dataset '{folder.name}' at {folder}: {error}")
            continue
        listed.append(summary.to_dict())
        lines += summary.lines()
    obj.console.result({"datasets": listed}, lines or [f"no datasets in {root}"])


@main.command("settings")
@pass_context
def show_settings(obj: Context) -> None:
    """Show the effective settings (defaults < file < LIFECYCLE_* variables < options)."""
    import json

    from lifecycle.registry import tracking_uri
    from training.model_specs import model_specs

    model_specs(obj.settings)  # a misspelt model under training.models, refused as `train` does
    data = json.loads(obj.settings.model_dump_json())
    # where the runs and models are when no server is set: the question an engineer opening
    # MLflow asks, which "(unset)" alone did not answer
    uri = tracking_uri(obj.settings)
    used = {"tracking.uri": f"the workspace's own store: MLFLOW_TRACKING_URI={uri}"}
    obj.console.result(data, settings_toml(data, used))


SECRET_SHOWN = "**********"  # how a SecretStr is dumped


def settings_toml(data: dict[str, Any], used: dict[str, str] | None = None) -> list[str]:
    """The settings as the lines of a TOML file that sets them (what `lifecycle settings`
    printed as Python dicts could not be pasted into lifecycle.toml): an unset value and a
    secret are comments, and so is the home, which the file cannot set. ``used``: dotted
    name -> what serves in place of that value while it is unset, said in its comment."""
    import json

    def entries(values: dict[str, Any], table: str) -> list[str]:
        lines, tables = [], []
        for key, value in values.items():
            if isinstance(value, dict):
                tables += ["", f"[{table}{key}]", *entries(value, f"{table}{key}.")]
            elif value is None:
                instead = (used or {}).get(f"{table}{key}")
                lines.append(f"# {key} = (unset{f': {instead}' if instead else ''})")
            elif value == SECRET_SHOWN:
                lines.append(f"# {key} = {json.dumps(value)} (a secret: set in the environment)")
            else:  # JSON's strings, numbers, booleans and arrays of them are TOML's
                lines.append(f"{key} = {json.dumps(value)}")
        return lines + tables

    top = {key: value for key, value in data.items() if key != "home"}
    home = f"# home = {json.dumps(data.get('home'))} (--home or LIFECYCLE_HOME)"
    return [home, *entries(top, "")]


# The subcommands register themselves on ``main`` when their modules are imported.
import lifecycle.commands.backtest  # noqa: E402
import lifecycle.commands.campaigns  # noqa: E402
import lifecycle.commands.data  # noqa: E402
import lifecycle.commands.datasets  # noqa: E402
import lifecycle.commands.erasure  # noqa: E402
import lifecycle.commands.features  # noqa: E402
import lifecycle.commands.lists  # noqa: E402
import lifecycle.commands.models  # noqa: E402
import lifecycle.commands.monitor  # noqa: E402
import lifecycle.commands.outcomes  # noqa: E402
import lifecycle.commands.refresh  # noqa: E402
import lifecycle.commands.uplift  # noqa: E402, F401


def _dataset_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from lifecycle.workspace import check_dataset_name

    return value if value is None else check_dataset_name(value)  # a UserError: one line


def _check_dataset_options(command: click.Command) -> None:
    """Every command's --dataset takes one safe folder name: '' is refused, not read as the
    default, and '../x' or 'a/b' never name a path outside the workspace."""
    for param in command.params:
        if param.name == "dataset" and param.callback is None:
            param.callback = _dataset_name
    for sub in getattr(command, "commands", {}).values():
        _check_dataset_options(sub)


_check_dataset_options(main)

if __name__ == "__main__":  # python -m lifecycle.cli, as python -m lifecycle
    run()
