"""How a CSV file is written (:class:`CsvFormat`: its separator and text encoding, as the
command line gives them) and the checks that refuse a file not written so, from its first
bytes or header line before Arrow parses it: no text at all (a Parquet or Excel file named
.csv, NUL bytes), a UTF-16 or UTF-32 byte order mark (then read in that encoding), latin-1
control bytes (cp1252 text), a header line holding another separator."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from features.csv_lines import first_c1_byte, open_binary, open_text
from features.hints import option_hint
from features.validation import ContractError
from lifecycle.errors import offered

# named in the hint of a 1-column header (a ',' one: a .tsv file written with commas)
OTHER_SEPARATORS = {";": "';'", "\t": "tab", "|": "'|'", ",": "','"}
# an Excel 97-2003 workbook (its binary format has no reader here)
OLD_EXCEL = "an Excel 97-2003 .xls workbook: save it as .xlsx (Excel Workbook) or the sheet as CSV"
# What a file named .csv is when it starts so, and what to do with it (a zip archive is
# read: an .xlsx, or a zip of one CSV)
BINARY_KINDS = {
    b"PAR1": "a Parquet file: name it .parquet",
    b"\xd0\xcf\x11\xe0": OLD_EXCEL,
}
# Byte order marks of the encodings a UTF-8 reader cannot read (Excel's "Unicode text"
# export is UTF-16 with tabs); UTF-32's first, as UTF-16's is a prefix of it.
BOMS = {
    codecs.BOM_UTF32_LE: "utf-32",
    codecs.BOM_UTF32_BE: "utf-32",
    codecs.BOM_UTF16_LE: "utf-16",
    codecs.BOM_UTF16_BE: "utf-16",
}


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file is written: its column separator (None: ',' or, for .tsv, tab) and
    its text encoding, as given with --delimiter and --encoding."""

    delimiter: str | None = None
    encoding: str = "utf-8"
    options: str = ""  # the options that set them: --delimiter; 'users-': --users-delimiter
    sheet: str | None = None  # of an Excel workbook (--sheet): None, its one sheet with cells

    def __post_init__(self) -> None:
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise ContractError(
                f"{self.option('delimiter')} {self.delimiter!r}: expected one character, e.g. "
                f"';' or '|' (a tab: {self.option('delimiter')} tab)"
            )
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ContractError(
                f"{self.option('encoding')} {self.encoding!r}: not a known text encoding; e.g. utf-8, "
                "latin-1, cp1252"
            ) from None

    @classmethod
    def given(
        cls,
        delimiter: str | None,
        encoding: str | None,
        options: str = "",
        sheet: str | None = None,
    ) -> CsvFormat:
        """From the command line's options (``tab`` or ``\\t`` names a tab)."""
        if delimiter in ("tab", "\\t"):
            delimiter = "\t"
        return cls(delimiter, encoding or "utf-8", options, sheet)

    def option(self, name: str) -> str:
        """The command line option that sets ``name`` (delimiter, encoding) of this file."""
        return f"--{self.options}{name}"


def refuse_binary(path: Path, encoding: str) -> None:
    """A file that is no text, by its first bytes (a Parquet, zip, gzip or Excel file named
    .csv) or a NUL in its header line: refused, before Arrow parses binary as rows."""
    if codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):  # NULs are their text
        return
    try:
        with open_binary(path) as source:
            start = source.read(4096)
    except (OSError, EOFError):  # a damaged .gz: the read names it
        return
    what = next((kind for magic, kind in BINARY_KINDS.items() if start.startswith(magic)), None)
    if what is None and b"\x00" not in start.split(b"\n", 1)[0]:
        return
    raise ContractError(
        f"{path}: is not a text file ({what or 'its header line holds NUL bytes'}); expected "
        "a CSV file"
    )


def refuse_latin1_controls(path: Path, csv: CsvFormat) -> None:
    """A file read as latin-1 that holds a byte 0x80-0x9F, a control character in latin-1:
    it is cp1252 (or UTF-8), and latin-1, the first encoding the UTF-8 refusal names, read its
    en dash and '€' as controls into every product and name, unsaid (:func:`first_c1_byte`)."""
    if codecs.lookup(csv.encoding).name != "iso8859-1" or not (found := first_c1_byte(path)):
        return
    line, byte, utf8 = found
    given = f"{csv.option('encoding')} {csv.encoding}"
    if utf8:
        hint = option_hint(f"it reads as UTF-8: drop {given}", "it reads as UTF-8")
    else:
        shown = bytes([byte]).decode("cp1252", errors="replace")
        hint = option_hint(
            f"if it is Windows' Western text (as Excel saves it), give {csv.option('encoding')} "
            f"cp1252 (which reads it as {shown!r})",
            "save the file as UTF-8",
        )
    raise ContractError(
        f"{path}: line {line:,} holds the byte 0x{byte:02X}, a control character in "
        f"{csv.encoding} ({given}), which no text holds; {hint}"
    )


def with_bom_encoding(path: Path, csv: CsvFormat) -> CsvFormat:
    """A file that starts with a UTF-16 or UTF-32 byte order mark is read in that encoding
    (read as UTF-8 it was 'one column holding tab', then 'can't decode byte 0xff')."""
    if codecs.lookup(csv.encoding).name != "utf-8":
        return csv
    try:
        with open_binary(path) as source:
            start = source.read(4)
    except (OSError, EOFError):  # a damaged .gz: the read names it
        return csv
    found = next((name for bom, name in BOMS.items() if start.startswith(bom)), None)
    return CsvFormat(csv.delimiter, found, csv.options, csv.sheet) if found else csv


def refuse_other_separator(path: Path, sep: str, csv: CsvFormat) -> None:
    """A header line without ``sep`` but with another usual separator: name it and the option."""
    with open_text(path, csv.encoding) as lines:
        header = lines.readline(1 << 16).lstrip("\ufeff").rstrip("\r\n")
    if sep in header:
        return
    for other, name in OTHER_SEPARATORS.items():
        if other != sep and other in header:
            shown = header if len(header) <= 60 else header[:57] + "..."
            given = f"{csv.option('delimiter')} {'tab' if other == chr(9) else repr(other)}"
            hint = option_hint(
                f"give {given}",
                f"save the file with {OTHER_SEPARATORS.get(sep, repr(sep))} between them",
            )
            raise ContractError(
                f"{path}: the header line is one column ({shown!r}) holding {name}, not "
                f"{OTHER_SEPARATORS.get(sep, repr(sep))}: if {name} separates the columns, {hint}",
                (given,) if offered(csv.option("delimiter")) else (),
            )
