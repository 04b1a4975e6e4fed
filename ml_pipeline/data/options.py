"""How to read an event-log file: every reading option of the CLI and the upload API in one place.

The CLI builds a :class:`ReadOptions` from its flags, the API from its form fields, and both hand
it to :func:`ml_pipeline.data.eventlog.load_events` or :func:`ml_pipeline.data.sharding.shard_file`,
so a file reads the same whichever way it came in. ``OPTION_NAMES`` names each option as the CLI
flag and as the API field, so a refusal can name the way out in the words of the caller.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace

from ml_pipeline.errors import EventLogError

DUPLICATE_POLICIES = ("warn", "keep", "drop", "error")
DECIMAL_STYLES = ("dot", "comma")
AMOUNT_KINDS = ("total", "unit_price")
# What a value of the event-type column can be told to mean.
EVENT_ROLES = ("purchase", "refund", "other", "ignore")

# option -> (CLI flag, API form field)
OPTION_NAMES = {
    "column_mapping": ("--column FIELD=HEADER", "column_mapping"),
    "event_types": ("--event-type VALUE=ROLE", "event_types"),
    "date_format": ("--date-format", "date_format"),
    "decimal": ("--decimal", "decimal"),
    "amount_is": ("--amount-is", "amount_is"),
    "encoding": ("--encoding", "encoding"),
    "sheet": ("--sheet", "sheet"),
    "max_bad_share": ("--max-bad-rows", "max_bad_rows"),
    "duplicates": ("--duplicates", "duplicates"),
}


@dataclass(frozen=True)
class ReadOptions:
    """The reading choices a user can make; None means "decide from the file".

    - ``column_mapping``: {canonical field: the file's header}, e.g. {"customer_id": "Kunde"}.
    - ``event_types``: {value of the event-type column: role}, role one of EVENT_ROLES; values are
      matched case- and space-insensitively. ``other`` keeps the rows as non-spend events,
      ``ignore`` leaves them out.
    - ``date_format``: strptime format of the event date, e.g. "%d/%m/%Y".
    - ``decimal``: the decimal separator of amounts, "dot" (1,234.56) or "comma" (1.234,56).
    - ``amount_is``: "total" (the row's amount) or "unit_price" (multiplied by the quantity).
    - ``encoding``: a Python codec name for text files, e.g. "cp1252".
    - ``sheet``: the Excel sheet to read (default: the first).
    - ``max_bad_share``: largest share of unreadable rows dropped with a warning (0 to 1).
    - ``duplicates``: exact duplicate rows: one of DUPLICATE_POLICIES.
    """

    column_mapping: dict[str, str] | None = None
    event_types: dict[str, str] | None = None
    date_format: str | None = None
    decimal: str | None = None
    amount_is: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    max_bad_share: float = 0.01
    duplicates: str = "warn"

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise EventLogError naming the option when a value is not one it accepts."""
        if self.duplicates not in DUPLICATE_POLICIES:
            raise EventLogError(f"duplicates policy must be one of {', '.join(DUPLICATE_POLICIES)}")
        if self.decimal is not None and self.decimal not in DECIMAL_STYLES:
            raise EventLogError(f"decimal must be one of {', '.join(DECIMAL_STYLES)}, not '{self.decimal}'")
        if self.amount_is is not None and self.amount_is not in AMOUNT_KINDS:
            raise EventLogError(f"amount_is must be one of {', '.join(AMOUNT_KINDS)}, not '{self.amount_is}'")
        if self.date_format:
            check_date_format(self.date_format)
        if not 0 <= float(self.max_bad_share) <= 1:
            raise EventLogError(f"the bad-row share must be between 0 and 1, not {self.max_bad_share}")
        for value, role in (self.event_types or {}).items():
            if role not in EVENT_ROLES:
                raise EventLogError(
                    f"event type '{value}': role must be one of {', '.join(EVENT_ROLES)}, not '{role}'"
                )
        if self.encoding is not None:
            import codecs

            try:
                codecs.lookup(self.encoding)
            except (LookupError, ValueError):
                # ValueError: a name with a NUL character in it ("embedded null character").
                raise EventLogError(f"unknown encoding {self.encoding!r}") from None

    def to_dict(self) -> dict:
        """The options that differ from the defaults, as JSON-ready values."""
        default = ReadOptions()
        return {k: v for k, v in asdict(self).items() if v != getattr(default, k)}

    def for_scoring(self) -> ReadOptions:
        """These options with the churn label column left unread: scoring never uses a label, so
        a label value it cannot read must not fail a scoring run (the column is declined, as
        ``column_mapping={"churn_label": ""}`` does)."""
        return replace(self, column_mapping={**(self.column_mapping or {}), "churn_label": ""})

    @classmethod
    def from_dict(cls, data: dict | None) -> ReadOptions:
        """Options from :meth:`to_dict`'s output (unknown keys raise EventLogError)."""
        data = dict(data or {})
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise EventLogError(f"unknown reading option(s): {', '.join(unknown)}")
        return cls(**data)


def parse_pairs(items: list[str] | None, flag: str, example: str) -> dict[str, str]:
    """CLI ``KEY=VALUE`` items (``--column``, ``--event-type``) as a dict; EventLogError otherwise."""
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise EventLogError(f"{flag} {item}: expected KEY=VALUE, e.g. {flag} {example}")
        key, value = item.rsplit("=", 1) if flag == "--event-type" else item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


# A flag in a message: "--column FIELD=HEADER" / "--event-type VALUE=ROLE", or "--flag [value]".
_FLAG = re.compile(r"--(column|event-type) ([^\s=;,]+)=([^\s;,]*)|--([a-z-]+)(?: ([^\s;,)-][^\s;,)]*))?")


def api_wording(message: str) -> str:
    """A refusal worded for an API caller: each CLI flag it names becomes the upload's form field.

    "--column customer_id=Kunde" becomes 'column_mapping {"customer_id": "Kunde"}', "--decimal
    comma" becomes "decimal=comma", a flag without a value "the decimal field", and so on (OPTION_NAMES).
    """
    by_flag = {cli.split()[0]: field for cli, field in OPTION_NAMES.values()}

    def repl(m: re.Match) -> str:
        if m.group(1):
            field = by_flag["--" + m.group(1)]
            return f'{field} {{"{m.group(2)}": "{m.group(3)}"}}'
        field, word = by_flag.get("--" + m.group(4)), m.group(5)
        if field is None:
            return m.group(0)
        if word is not None and _is_value_of(field, word):
            return f"{field}={word}"
        return f"the {field} field" + (f" {word}" if word else "")

    return _FLAG.sub(repl, message)


def _is_value_of(field: str, word: str) -> bool:
    """Whether the word after a flag in a message is a value of it ("--decimal comma") rather than
    the sentence going on ("pass --encoding if it is another"). A sheet name cannot be told from
    a word of the sentence, so it never is one."""
    choices = {"decimal": DECIMAL_STYLES, "amount_is": AMOUNT_KINDS, "duplicates": DUPLICATE_POLICIES}
    if field in choices:
        return word in choices[field]
    if field == "date_format":
        return "%" in word
    if field == "max_bad_rows":
        return re.fullmatch(r"\d*\.?\d+", word) is not None
    if field == "encoding":
        import codecs

        try:
            codecs.lookup(word)
        except LookupError:
            return False
        return True
    return False


def check_date_format(date_format: str) -> None:
    """Raise EventLogError when ``date_format`` is no strptime format at all (a bad directive
    such as %Q, or a lone % at the end): otherwise pandas would fail on it while the file is
    read, with no word of the option."""
    from datetime import datetime

    try:
        datetime.strptime("", date_format)
    except ValueError as exc:
        text = str(exc)
        if "does not match format" not in text and "unconverted data" not in text:
            raise EventLogError(
                f"date format '{date_format}' is not a strptime format ({text}); use codes such as "
                "%d/%m/%Y or %Y-%m-%d %H:%M (--date-format)"
            ) from None
