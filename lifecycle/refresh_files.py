"""`lifecycle refresh FILE ...`'s ingest step: each file appended as the dataset's files were
read (the column maps, event type, zone, ... its batches recorded, :mod:`features.file_shape`
and :mod:`features.batches`), one dataset version each; a refusal that an ingest option would
mend names the `ingest --append` to run, with that option (``ContractError.options``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle import lineage
from lifecycle.errors import UserError, command_options

if TYPE_CHECKING:
    from lifecycle.settings import Settings


def append_files(
    settings: Settings,
    files: Sequence[Path],
    users: Path | None,
    source: str | None,
    done: dict[str, Any] | None = None,
    keep_repeats: bool | None = None,
) -> dict[str, Any]:
    """Append ``files`` one by one, each a dataset version of its own; ``done`` (returned)
    holds each file's summary (``files``, ``lines``) and, once one changed the dataset,
    ``appended``: those files and the dataset version, kept when a later file is refused.
    ``keep_repeats``: refresh's --keep-repeats (None: as the dataset's files were read)."""
    from features import adapters
    from features.appending import NotAppendable
    from features.batches import file_reading
    from features.erasure_log import erased_users
    from features.importing import import_source
    from features.ingest import ingest_events
    from features.validation import ContractError
    from lifecycle.dataset_kind import read_report

    erased = erased_users(settings, settings.dataset)
    dataset_dir = settings.workspace.dataset_dir(settings.dataset)
    done = {} if done is None else done
    added: list[dict[str, Any]] = done.setdefault("files", [])
    said: list[str] = done.setdefault("lines", [])  # what ingest prints of each file

    def kept(path: Path, summary: Any) -> None:
        added.append({"file": str(path), **summary.to_dict()})
        said.extend(summary.lines()[1:])
        if not summary.unchanged:
            before = done.get("appended", {}).get("files", [])
            version = lineage.dataset_version(dataset_dir)
            done["appended"] = {"files": [*before, str(path)], "dataset_version": version}

    if source is not None and users is not None:
        raise UserError(
            f"{users}: {source} files hold their own customers (the adapter derives the users "
            "table from the events); give the events files only"
        )
    for index, path in enumerate(files):
        held = read_report(dataset_dir)  # read once: how this dataset's files were read
        # the column maps, event type, zone, forms of times and amounts, repeats its files
        # were read with: as `ingest --append` reads a file given no options
        reading = file_reading(held, settings.dataset, settings.ingest, keep_repeats=keep_repeats)
        if source is not None:  # the adapter's checks and the append of `import --append`
            # its summary says what `import --append`'s does (the duplicate_row rows'
            # --keep-repeats, which refresh's options left unsaid)
            with command_options(None):
                summary = import_source(
                    source,
                    Path(path),
                    dataset_dir,
                    max_bad_fraction=settings.ingest.max_bad_fraction,
                    chunk_rows=settings.ingest.chunk_rows,
                    erased=erased,
                    append=True,
                    # as the dataset's files were read (`import --keep-repeats`)
                    keep_repeats=reading.keep_repeats,
                    max_amount_shift=settings.ingest.max_amount_shift,
                    max_amount_ratio=settings.ingest.max_amount_ratio,
                )
                kept(path, summary)  # its lines are said here
            continue
        try:
            # its refusals name ingest's options: the one below says to append with ingest
            with command_options(None):
                summary = ingest_events(
                    Path(path),
                    dataset_dir,
                    mapping=reading.mapping,
                    users_path=users if index == len(files) - 1 else None,
                    users_mapping=reading.users_mapping,
                    erased=erased,
                    max_bad_fraction=settings.ingest.max_bad_fraction,
                    allow_negative_amounts=reading.allow_negative_amounts,
                    chunk_rows=settings.ingest.chunk_rows,
                    memory_limit=settings.ingest.memory_limit,
                    keep_repeats=reading.keep_repeats,
                    amount_default=reading.amount_default,
                    max_amount_ratio=settings.ingest.max_amount_ratio,
                    max_amount_shift=settings.ingest.max_amount_shift,
                    mode="append",
                    csv=reading.csv,
                    users_csv=reading.users_csv,
                    recorded=held,
                    not_activity_types=settings.labels.not_activity_types,
                )
        except NotAppendable:
            raise  # no option of ingest's would help: the file does not fit the dataset
        except ContractError as error:
            if not error.options:  # a file not found, empty, ...: no option of ingest's helps
                raise
            shaped_like = adapters.source_shaped_like(path)
            if shaped_like:  # imported with its adapter: refresh appends through it too
                raise ContractError(
                    f"{path}: a file of {shaped_like}'s own columns, which `lifecycle ingest` "
                    f"reads only with --map: append it through its adapter, as "
                    f"`lifecycle import {shaped_like}` reads it: "
                    f"`lifecycle refresh {path} --source {shaped_like}`"
                ) from None
            # its hint names ingest's options: refresh has none; the command says them (an
            # append reads the rest as the dataset recorded)
            options = " ".join(error.options)
            raise ContractError(
                f"{error}. `refresh` reads files as the dataset's were read and takes no ingest "
                f"options: append this one with `lifecycle ingest {path} --dataset "
                f"{settings.dataset} --append {options}`, then run `lifecycle refresh "
                f"--dataset {settings.dataset}`",
                error.options,
            ) from None
        kept(path, summary)
    return done


def appended_words(appended: dict[str, Any]) -> str:
    """The files an ingest step appended before it failed or was stopped, and the dataset
    version they made."""
    files = appended["files"]
    return (
        f"{', '.join(files)} stay{'s' * (len(files) == 1)} appended (dataset version "
        f"{appended['dataset_version']}; given again, {'its' if len(files) == 1 else 'their'} "
        "rows are already_ingested)"
    )
