"""Reading Parquet: one file, or a folder of them as Spark, dbt, Hive and warehouse exports
write a table (``events/dt=2011-01-01/part-00000.parquet``), in row batches whose dtypes are
the same in every chunk."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from features.contract import SOURCE_FILE
from features.validation import ContractError

PARQUET_SUFFIXES = (".parquet", ".pq")


def is_parquet_folder(path: Path) -> bool:
    """A folder holding a Parquet file at any depth (a partitioned table)."""
    return path.is_dir() and any(_parquet_files(path))


def _hidden(part: str) -> bool:
    """A name a table's writers and readers skip: ``_SUCCESS``, ``_committed_...``,
    ``.part-0.crc``, ``_temporary``."""
    return part.startswith(("_", "."))


def _parquet_files(folder: Path) -> Iterator[Path]:
    for file in folder.rglob("*"):
        parts = file.relative_to(folder).parts
        if file.is_file() and not any(_hidden(p) for p in parts):
            yield file


def table_files(folder: Path) -> list[Path]:
    """The data files of a partitioned table in path order (its partitions' order), each a
    Parquet file; a folder holding other files is refused naming one."""
    files = sorted(_parquet_files(folder), key=lambda f: f.relative_to(folder).parts)
    others = [f for f in files if not f.name.lower().endswith(PARQUET_SUFFIXES)]
    if others:
        raise ContractError(
            f"{folder}: a folder is read as one table of Parquet files, but it holds "
            f"{others[0].relative_to(folder)} too: move other files out, or ingest a file alone"
        )
    return files


def partition_values(folder: Path, file: Path) -> dict[str, str]:
    """The Hive partition columns of ``file``'s path under ``folder`` (``dt=2011-01-01``),
    as text (``__HIVE_DEFAULT_PARTITION__`` is a null)."""
    values = {}
    for part in file.relative_to(folder).parts[:-1]:
        name, equals, value = part.partition("=")
        if equals and name:
            values[name] = None if value == "__HIVE_DEFAULT_PARTITION__" else value
    return values


def partition_columns(path: Path) -> frozenset[str]:
    """The Hive partition columns of a partitioned folder's files (none: a file)."""
    if not is_parquet_folder(path):
        return frozenset()
    return frozenset(n for file in _parquet_files(path) for n in partition_values(path, file))


def parquet_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """A Parquet file's, or a partitioned folder's, row batches as frames: the folder's
    files under one schema (a column some files lack is empty in theirs, a partition column
    from the path is text), an integer or boolean column with a null anywhere is nullable
    (Int64 / boolean) in every chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = path if path.is_dir() else None
    files = table_files(path) if folder else [path]
    opened = []
    for file in files:
        try:
            opened.append(pq.ParquetFile(file))
        except (pa.ArrowInvalid, OSError) as error:
            raise _unreadable(folder, file, error) from None
    partitions = [partition_values(folder, f) if folder else {} for f in files]
    schema = _one_schema(path, files, opened, partitions) if folder else opened[0].schema_arrow
    nullable = set().union(*(_nullable(file) for file in opened))
    nullable |= {name for values in partitions for name in values}
    # a column some files lack is empty in theirs: nullable, so its integers stay integers
    nullable |= {n for n in schema.names if any(n not in f.schema_arrow.names for f in opened)}
    if sum(file.metadata.num_rows for file in opened) == 0:
        yield schema.empty_table().to_pandas()
        return
    for file, parquet, values in zip(files, opened, partitions, strict=True):
        batches = parquet.iter_batches(batch_size=chunk_rows)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError) as error:
                raise _unreadable(folder, file, error) from None
            if not folder:
                yield _frame(batch, schema, nullable)
                continue
            batch = _as_schema(batch, values, schema, f"{folder}: {file.relative_to(folder)}")
            frame = _frame(batch, schema, nullable)
            frame.attrs[SOURCE_FILE] = file.relative_to(folder).as_posix()  # messages name it
            yield frame


def _unreadable(folder: Path | None, file: Path, error: Exception) -> Exception:
    """A folder's file that is no Parquet (0 bytes, cut short: a failed or running job's)
    named in the folder; a file alone, the reader's error as it is."""
    if folder is None:
        return ValueError(str(error))
    return ContractError(
        f"{folder}: {file.relative_to(folder)} cannot be read as Parquet ({error}): a file a "
        "failed or unfinished export left? Move it out of the folder, or export again"
    )


def _one_schema(path: Path, files: list[Path], opened: list[Any], partitions: list[dict]) -> Any:
    """The folder's files' columns together (a file's own, then its partition columns as
    text); a column of two types (an id as integers in one file, text in another) is refused
    naming both files, and the way on."""
    import pyarrow as pa

    schemas = []  # a folder's: its files' columns, then their partition columns
    for file, values in zip(opened, partitions, strict=True):
        schema = file.schema_arrow
        for name in values:
            if name not in schema.names:
                schema = schema.append(pa.field(name, pa.string()))
        schemas.append(schema.remove_metadata())
    if unified := _unify(schemas):
        return unified
    for name in sorted({n for s in schemas for n in s.names}):
        typed = [
            (f, s.field(name).type) for f, s in zip(files, schemas, strict=True) if name in s.names
        ]
        for (first, a), (second, b) in itertools.pairwise(typed):
            if not _unify([pa.schema([(name, a)]), pa.schema([(name, b)])]):
                raise ContractError(
                    f"{path}: column {name!r} is {a} in {first.relative_to(path)} and {b} in "
                    f"{second.relative_to(path)}: one table's files are read under one schema; "
                    "ingest the files one at a time (the first, then each with --append)"
                )
    raise ContractError(f"{path}: its files' columns cannot be read as one table")


def _unify(schemas: list[Any]) -> Any:
    """One schema of ``schemas`` (int32 and int64 as int64, a column some lack), or None."""
    import pyarrow as pa

    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def _nullable(file: Any) -> set[str]:
    """Columns that may hold a null in ``file`` (by its statistics; none: maybe)."""
    nullable: set[str] = set()
    metadata = file.metadata
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for i in range(row_group.num_columns):
            column = row_group.column(i)
            stats = column.statistics
            if stats is None or not stats.has_null_count or stats.null_count:
                nullable.add(column.path_in_schema)
    return nullable


def _as_schema(batch: Any, partition: dict[str, str | None], schema: Any, named: str) -> Any:
    """A file's batch in the table's schema: its partition values as columns, a column the
    file lacks as nulls, a column promoted (int32 -> int64) cast. A file's own column named
    as its partition is kept where its values, as text, are the partition's; else refused."""
    import pyarrow as pa

    columns = []
    for field in schema:
        if field.name in batch.schema.names:
            column = batch.column(field.name)
            if field.name in partition and not _agrees(column, partition[field.name]):
                raise ContractError(
                    f"{named}: its column {field.name!r} holds other values than its folder's "
                    f"partition {field.name}={partition[field.name]}: which is meant? Rename "
                    "the column in the export, or ingest the file alone"
                )
        elif field.name in partition:
            column = pa.array([partition[field.name]] * batch.num_rows, pa.string())
        else:
            column = pa.nulls(batch.num_rows, field.type)
        columns.append(column if column.type == field.type else column.cast(field.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _agrees(column: Any, value: str | None) -> bool:
    """Every value of a file's column, as text, is its partition's (None: all null)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if value is None:
        return column.null_count == len(column)
    try:
        text = column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return text.null_count == 0 and pc.all(pc.equal(text, value)).as_py() is not False


def _frame(batch: Any, schema: Any, nullable: set[str]) -> pd.DataFrame:
    """A batch as a frame; nullable integers and booleans, not float64: an id 7 stays 7,
    never '7.0'."""
    import pyarrow as pa

    frame = batch.to_pandas()
    for name in nullable & set(frame.columns):
        arrow_type = schema.field(name).type
        exact = "UInt64" if pa.types.is_unsigned_integer(arrow_type) else "Int64"
        if pa.types.is_integer(arrow_type) and frame[name].dtype.kind in "iu":
            frame[name] = frame[name].astype(exact)
        elif pa.types.is_integer(arrow_type) and frame[name].dtype.kind == "f":
            frame[name] = pd.array(batch.column(name).to_pylist(), dtype=exact)
        elif pa.types.is_boolean(arrow_type) and frame[name].dtype == bool:
            frame[name] = frame[name].astype("boolean")
        elif pa.types.is_boolean(arrow_type):
            frame[name] = pd.array(batch.column(name).to_pylist(), dtype="boolean")
    return frame
