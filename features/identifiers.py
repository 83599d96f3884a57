"""Attributes of people that are no model input: ones that name, contact, locate or identify
a person (a first name, an email, a postcode, a birth date, a national id) or are a protected
characteristic (gender), found by the column's name, and any text column with a distinct
value for most rows (an id of some other system). As a feature such a column predicts
nothing for anyone new (or, for gender, treats customers differently by sex), a "reason"
quotes it ("First Name: Emma"), and every value is kept in the model's own files (a LightGBM
model stores its categories), where ``lifecycle forget`` cannot reach them. They stay in the
feature table (lists withhold them unless ``--allow-column`` names one), are left out of every model, and
said so; ``features.allow_attributes`` takes one in, ``features.exclude_attributes`` leaves
more out."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

import pandas as pd

MIN_DISTINCT = 50  # from this many values, a value for most rows identifies people
MAX_DISTINCT_SHARE = 0.5  # of the rows that have a value
# Fewer values: a small table (a snapshot of 30 customers under a lowered training.min_rows,
# an events log of few users over many cutoffs) trains too, and there a column identifies
# people when its values hardly repeat (30 emails in 30 rows), while a category repeats
# ('plan', 'country', even 20 cities in 30 rows). From 10 rows, the fewest any training takes.
SMALL_TABLE_SHARE = 0.9
MIN_FILLED = 10


# The feature table's Parquet metadata: its users attributes that are no model's feature (JSON
# list; the key's name is from when only the distinct-values rule left them out) ...
IDENTIFYING_KEY = b"lifecycle.identifying_attributes"
# ... and why each (JSON object); a table written before has only the list
REASONS_KEY = b"lifecycle.not_feature_reasons"

NAMES = "names a person"
CONTACT = "contacts a person"
PLACE = "locates a person"
BIRTH = "is a birth date (age stays a feature)"
IDENTITY = "identifies a person"
PROTECTED = "is a protected characteristic"
EXCLUDED = "in features.exclude_attributes"

# Whole column names, case, accents, spaces, '-' and '_' aside ('First Name', 'first_name',
# 'firstName', 'E-Mail', 'Prénom'), in English, German, French, Spanish, Italian, Dutch and
# Portuguese. Only whole names: 'plan_name', 'channel_name', 'product_name' are categories.
PERSONAL_NAMES = {
    NAMES: "name names firstname givenname forename forenames lastname familyname "
    "surname fullname middlename maidenname displayname nickname username vorname "
    "nachname familienname prenom nom nomdefamille nombre nombres apellido apellidos nome "
    "cognome voornaam achternaam naam sobrenome",
    CONTACT: "email emails emailaddress emailadresse emailadres mail correo correoelectronico "
    "courriel phone phones phonenumber telephone telephonenumber tel mobile mobilephone "
    "mobilenumber cellphone cellnumber fax telefon telefonnummer telefono telemovel "
    "celular handynummer whatsapp",
    PLACE: "address addresses streetaddress street streetname addressline housenumber "
    "adresse adres direccion indirizzo strasse hausnummer calle latitude longitude lat lng "
    "lon geolocation coordinates",
    BIRTH: "birthdate dateofbirth dob birthday bday geburtsdatum geburtstag datedenaissance "
    "fechadenacimiento datadinascita datanascimento geboortedatum",
    IDENTITY: "ssn socialsecuritynumber socialsecurity nationalid nationalidnumber "
    "nationalinsurancenumber nino passport passportnumber idnumber idcard identitynumber "
    "driverslicense driverslicence driverlicense taxid taxnumber dni nif nie cpf personnummer "
    "bsn pesel steuerid codicefiscale iban cardnumber creditcard creditcardnumber ip "
    "ipaddress ipv deviceid advertisingid idfa gaid",
    PROTECTED: "gender sex geschlecht genero sexe sesso ethnicity ethnicorigin ethnic race "
    "religion sexualorientation nationality disability pronouns salutation anrede",
}
# A postcode has digits in nearly every country; one whose values have none is an area type
# (Hillstrom's zip_code: Urban, Suburban, Rural), a category.
POSTCODES = "postcode postalcode zip zipcode zippostalcode postleitzahl plz codepostal codigopostal"
_REASON_OF = {word: reason for reason, words in PERSONAL_NAMES.items() for word in words.split()}
# Whose the attribute is, or which one ('billing_first_name', 'Default Address Zip',
# 'customer_email', 'last_ip'): the name after them is read as a whole name again.
QUALIFIERS = (
    "customer customers user client contact billing shipping delivery primary secondary "
    "default home work personal private main member buyer subscriber owner account last "
    "signup registration current latest address"
)


def words(name: str) -> list[str]:
    """A column name's words, lower case and without accents ('firstName' -> first, name)."""
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    return re.findall(r"[a-z]+|[0-9]+", text.casefold())


def spelled(name: str) -> str:
    """A column name as settings match it: 'First Name', 'first_name', 'firstName' alike."""
    return "".join(words(name))


def personal_reason(name: str, has_digits: Callable[[], bool] = lambda: True) -> str | None:
    """Why the column's name says it is a person's (``has_digits``: whether its values hold a
    digit, asked only of a postcode), or None."""
    said = words(name)
    while said and said[-1].isdigit():  # address1, phone 2
        said.pop()
    for start in range(len(said)):
        whole = "".join(said[start:])
        if whole in _REASON_OF:
            return _REASON_OF[whole]
        if whole in POSTCODES.split():
            return PLACE if has_digits() else None
        if said[start] not in QUALIFIERS.split():
            return None
    return None


def withheld_attributes(names: Iterable[str], not_features: Collection[str] = ()) -> list[str]:
    """Of users attributes ``names``, the ones a list withholds unless allowed by name: a
    person's by name (:func:`personal_reason`, so even one a setting takes into a model), or
    one the table names as no feature (``not_features``). Others (a plan, a contract, a
    country) are a customer's situation, shown in lists and their reasons."""
    left_out = set(not_features)
    return [name for name in names if name in left_out or personal_reason(name)]


def identifies(distinct: int, filled: int) -> bool:
    """Whether a text column with ``distinct`` values in ``filled`` rows identifies people."""
    if distinct >= MIN_DISTINCT:
        return distinct > MAX_DISTINCT_SHARE * filled
    return filled >= MIN_FILLED and distinct >= SMALL_TABLE_SHARE * filled


def distinct_reason(distinct: int, filled: int) -> str:
    """The distinct-values rule's reason, as a summary says it."""
    return f"{distinct:,} distinct values in {filled:,} rows: identifies people, not groups of them"


def _text(column: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column))


def identifying_columns(frame: pd.DataFrame, names: Iterable[str]) -> dict[str, int]:
    """Of ``names``, the text columns of ``frame`` with a distinct value for most rows -> their
    distinct values (the distinct-values rule alone)."""
    out = {}
    for name in names:
        column = frame[name]
        if not _text(column):
            continue
        filled = column.dropna()
        distinct = int(filled.astype(str).nunique())
        if identifies(distinct, len(filled)):
            out[name] = distinct
    return out


def judged(
    names: Iterable[str],
    *,
    is_flag: Callable[[str], bool],
    has_digits: Callable[[str], bool],
    counts: Callable[[], Mapping[str, tuple[int, int]]],
    allow: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> dict[str, str]:
    """Of ``names``, the attributes that are no model input -> why (in ``names``' order):
    ``exclude``, a name saying it is a person's (not a true/false flag), or the text columns'
    ``counts`` (name -> distinct, filled) by the distinct-values rule; ``allow`` takes one in.
    Settings name a column as :func:`spelled`."""
    allowed, excluded = {spelled(a) for a in allow}, {spelled(e) for e in exclude}
    counted = counts()
    out = {}
    for name in names:
        if spelled(name) in allowed:
            continue
        if spelled(name) in excluded:
            out[name] = EXCLUDED
        elif not is_flag(name) and (why := personal_reason(name, partial(has_digits, name))):
            out[name] = why
        elif name in counted and identifies(*counted[name]):
            out[name] = distinct_reason(*counted[name])
    return out


def not_features(
    frame: pd.DataFrame,
    names: Iterable[str],
    allow: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> dict[str, str]:
    """Of ``names``, the columns of ``frame`` that are no model input -> why (:func:`judged`)."""
    names = list(names)

    def counts() -> dict[str, tuple[int, int]]:
        texts = {n: frame[n].dropna() for n in names if _text(frame[n])}
        return {n: (int(v.astype(str).nunique()), len(v)) for n, v in texts.items()}

    return judged(
        names,
        is_flag=lambda n: pd.api.types.is_bool_dtype(frame[n]),
        has_digits=lambda n: bool(frame[n].dropna().astype(str).str.contains(r"\d").any()),
        counts=counts,
        allow=allow,
        exclude=exclude,
    )


def table_not_features(
    con: Any, relation: str, allow: Sequence[str] = (), exclude: Sequence[str] = ()
) -> dict[str, str]:
    """The attributes of the users table ``relation`` of DuckDB connection ``con`` (its columns
    but the id, the sign-up time and the channel) that are no model input -> why."""
    from features import contract as c
    from lifecycle.sql import identifier

    types = dict(
        con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {relation})").fetchall()
    )
    names = [n for n in types if n not in (c.USER_ID, c.SIGNUP_TIME, c.CHANNEL)]

    def counts() -> dict[str, tuple[int, int]]:
        texts = [n for n in names if types[n] == "VARCHAR"]
        if not texts:
            return {}
        counted = ", ".join(
            f"count(DISTINCT {identifier(n)}), count({identifier(n)})" for n in texts
        )
        found = con.execute(f"SELECT {counted} FROM {relation}").fetchone()
        return {n: (found[2 * i], found[2 * i + 1]) for i, n in enumerate(texts)}

    def has_digits(name: str) -> bool:
        column = identifier(name)
        sql = f"SELECT bool_or(regexp_matches({column}::VARCHAR, '[0-9]')) FROM {relation}"
        return bool(con.execute(sql).fetchone()[0])

    return judged(
        names,
        is_flag=lambda n: types[n] == "BOOLEAN",
        has_digits=has_digits,
        counts=counts,
        allow=allow,
        exclude=exclude,
    )


def users_file_not_features(
    users: Any, allow: Sequence[str] = (), exclude: Sequence[str] = (), con: Any = None
) -> dict[str, str]:
    """:func:`table_not_features` of a users table (Parquet file), in a cursor of ``con``
    (an ingest's connection; None: a connection of its own)."""
    from features.duckdb_memory import cursor
    from lifecycle.sql import literal

    with cursor(con) as own:
        own.execute(f"CREATE TEMP VIEW users_raw AS SELECT * FROM read_parquet({literal(users)})")
        return table_not_features(own, "users_raw", allow, exclude)


def not_features_of(schema: Any) -> dict[str, str]:
    """The users attributes a feature table's schema (pyarrow) names as no model input -> why.
    A table written before the reasons were kept has the distinct-values rule's list; the
    names of its columns are judged now (with no setting, as no setting existed then)."""
    metadata = schema.metadata or {}
    if REASONS_KEY in metadata:
        return dict(json.loads(metadata[REASONS_KEY]))
    said = metadata.get(IDENTIFYING_KEY)
    out = {name: "identifies people, not groups of them" for name in json.loads(said or "[]")}
    for field in schema:
        if field.name not in out and (why := personal_reason(field.name)):
            out[field.name] = why
    return out


def identifying_of(schema: Any) -> list[str]:
    """The attributes a feature table's schema (pyarrow) leaves out of every model."""
    return list(not_features_of(schema))


def metadata(reasons: Mapping[str, str]) -> dict[str, str]:
    """The feature table's Parquet metadata saying ``reasons``."""
    return {
        IDENTIFYING_KEY.decode(): json.dumps(list(reasons)),
        REASONS_KEY.decode(): json.dumps(dict(reasons)),
    }


def left_out_line(reasons: Mapping[str, str]) -> str:
    """What was left out and why, for a summary: one line."""
    named = ", ".join(f"'{name}' ({why})" for name, why in reasons.items())
    return (
        f"  not features: {named}; kept in the table, never in a model "
        "(features.allow_attributes takes one in)"
    )
