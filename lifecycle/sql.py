"""Quoting for the SQL text built here (DuckDB and SQLite): identifiers and string literals."""

from __future__ import annotations


def identifier(name: str) -> str:
    """A column or table name, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: object) -> str:
    """A string literal (e.g. a file path), single-quoted."""
    return "'" + str(value).replace("'", "''") + "'"
