"""Validation of ingest items (SPEC §6): each raw item becomes a plain row dict or an ItemError.

Each rule is stated once, in the ITEMS table: `parse_batch` validates with it, and the OpenAPI document renders
it (`Item.schema`, `batch_schema`), so what the document promises is what the validator enforces. Over ~300
lines on purpose: the table and the kinds of field it is made of read best together.
"""
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from json.encoder import c_make_encoder, encode_basestring_ascii

STATUSES = ("completed", "pending", "failed", "refunded")
AMOUNT_PLACES = 4  # amounts are stored in ten-thousandths of the currency unit
AMOUNT_SCALE = 10 ** AMOUNT_PLACES
MAX_AMOUNT = Decimal("1e12")
# Patterns are anchored for the document (a JSON Schema pattern searches) and read here with fullmatch, whose end
# is the string's end: a Python `$` alone would also match before a final newline.
CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_METRIC_NAME = 200
METRIC_NAME = re.compile(rf"^[A-Za-z_:][A-Za-z0-9_:.\-]{{0,{MAX_METRIC_NAME - 1}}}$")
MAX_METADATA_BYTES = 4096
MAX_TAGS = 16
MAX_TAG_NAME = 64
MAX_TAG_VALUE = 200
MAX_TAGS_BYTES = 500  # the canonical tag string is part of a rollup's key
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)
MAX_BATCH_ITEMS = 5000
# Nesting levels of arrays and objects in any JSON request body, the body itself being level 1. A batch item
# is level 3, so metadata keeps 28 levels of its own; far below where Python's JSON reader and writer recurse
# out. Request parsing (blueprints/http.py) enforces it for every JSON body.
MAX_JSON_DEPTH = 32



def json_number(value):
    """Amounts arrive as Decimal (exact parsing); inside free-form metadata they are plain JSON numbers."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


# Metadata is stored as compact JSON text, without NaN or Infinity, which PostgreSQL's json type refuses. The C
# encoder is built once: JSONEncoder.encode builds one per call, which cost more than encoding a small object.
# No check for cycles (markers None): what a JSON body decodes to has none.
_encode_compact = c_make_encoder(None, json_number, encode_basestring_ascii, None, ":", ",", False, False, False)


def compact_json(value) -> str:
    return "".join(_encode_compact(value, 0))


class ItemError(ValueError):
    """Why one item was rejected; the message names the field."""


@dataclass(frozen=True, slots=True)
class Text:
    """1 to max_length characters once trimmed; a whole number is read as its digits."""
    name: str
    max_length: int
    required: bool = True

    def read(self, item: dict, now: datetime) -> str | None:
        value = item.get(self.name)
        if type(value) is str and 0 < len(value) <= self.max_length and not value[0].isspace() and not value[-1].isspace():
            return value  # the common case, checked cheaply: this runs three times per item
        if value is None or value == "":
            if self.required:
                raise ItemError(f"{self.name} is required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ItemError(f"{self.name} must be a string")
        value = str(value).strip()
        if not value or len(value) > self.max_length:
            raise ItemError(f"{self.name} must be 1 to {self.max_length} characters")
        return value

    def schema(self) -> dict:
        return {"type": "string", "minLength": 1, "maxLength": self.max_length}


@dataclass(frozen=True, slots=True, kw_only=True)
class Code(Text):
    """A short code: text, upper-cased, that must then match `pattern`."""
    pattern: re.Pattern
    rule: str

    def read(self, item: dict, now: datetime) -> str:
        value = Text.read(self, item, now).upper()  # Text's, named: slotted dataclasses break a bare super()
        if not self.pattern.fullmatch(value):
            raise ItemError(f"{self.name} must be {self.rule}")
        return value

    def schema(self) -> dict:
        return {"type": "string", "pattern": self.pattern.pattern, "description": f"{self.rule} (upper-cased)"}


@dataclass(frozen=True, slots=True)
class Choice:
    name: str
    allowed: tuple[str, ...]
    required = True

    def read(self, item: dict, now: datetime) -> str:
        value = item.get(self.name)
        if value not in self.allowed:
            raise ItemError(f"{self.name} must be one of {', '.join(self.allowed)}")
        return value

    def schema(self) -> dict:
        return {"type": "string", "enum": list(self.allowed)}


@dataclass(frozen=True, slots=True)
class Amount:
    """A decimal string or number, read exactly (the body's floats arrive as Decimal), as an integer of 1e-4 units."""
    name: str
    required = True

    def read(self, item: dict, now: datetime) -> int:
        value = item.get(self.name)
        if type(value) is str:  # the common case, "19.99", read without a Decimal (a third of its cost)
            whole, point, fraction = value.partition(".")
            if (whole.isascii() and whole.isdigit() and len(whole) < len(str(int(MAX_AMOUNT)))
                    and (not point or (fraction.isascii() and fraction.isdigit() and len(fraction) <= AMOUNT_PLACES))):
                return int(whole) * AMOUNT_SCALE + int(fraction.ljust(AMOUNT_PLACES, "0"))
        if value is None or isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise ItemError(f"{self.name} is required: a decimal string or number")
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            raise ItemError(f"{self.name} must be a decimal number, e.g. \"19.99\"") from None
        if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
            raise ItemError(f"{self.name} must be between 0 and {MAX_AMOUNT:,.0f}")
        scaled = amount * AMOUNT_SCALE
        if scaled != scaled.to_integral_value():
            raise ItemError(f"{self.name} has more than {AMOUNT_PLACES} decimal places")
        return int(scaled)

    def schema(self) -> dict:
        return {"type": ["string", "number"], "minimum": 0, "maximum": int(MAX_AMOUNT), "x-maxDecimalPlaces": AMOUNT_PLACES,
                "description": f"a decimal string or number, 0 to {MAX_AMOUNT:,.0f}, at most {AMOUNT_PLACES} decimal places"}


@dataclass(frozen=True, slots=True)
class Timestamp:
    """ISO-8601 (a missing zone means UTC) or Unix seconds; absent means now."""
    name: str
    required = False

    def read(self, item: dict, now: datetime) -> datetime:
        value = item.get(self.name)
        if value is None:
            return now
        try:
            if isinstance(value, bool):
                raise TypeError
            if isinstance(value, int | float | Decimal):
                moment = datetime.fromtimestamp(float(value), UTC)
            else:
                moment = datetime.fromisoformat(value)  # Python 3.11 reads "Z" and most ISO-8601 forms
                if moment.tzinfo is not UTC:
                    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            raise ItemError(f"{self.name} must be ISO-8601 (e.g. 2026-01-31T12:00:00Z) or Unix seconds") from None
        if not EARLIEST <= moment <= now + FUTURE_TOLERANCE:
            raise ItemError(f"{self.name} is out of range ({EARLIEST:%Y-%m-%d} to {FUTURE_TOLERANCE.days} day from now)")
        return moment

    def schema(self) -> dict:
        return {"anyOf": [{"type": "string", "format": "date-time"},
                          {"type": "number", "minimum": int(EARLIEST.timestamp())}],
                "description": f"ISO-8601 (no zone means UTC) or Unix seconds, from {EARLIEST:%Y-%m-%d} "
                               f"to {FUTURE_TOLERANCE.days} day from now; absent means now"}


@dataclass(frozen=True, slots=True)
class Metadata:
    """A free-form object, kept as compact JSON text ready to store (numbers stay numbers)."""
    name: str
    required = False

    def read(self, item: dict, now: datetime) -> str:
        value = item.get(self.name)
        if value is None or value == {}:
            return "{}"
        if not isinstance(value, dict):
            raise ItemError(f"{self.name} must be an object")
        try:
            encoded = compact_json(value)
        except ValueError:
            raise ItemError(f"{self.name} must hold finite numbers only") from None
        if len(encoded) > MAX_METADATA_BYTES:
            raise ItemError(f"{self.name} must be at most {MAX_METADATA_BYTES} bytes as JSON")
        return encoded

    def schema(self) -> dict:
        return {"type": "object", "x-maxJsonBytes": MAX_METADATA_BYTES,
                "description": f"free-form; at most {MAX_METADATA_BYTES} bytes as compact JSON (non-ASCII as \\u escapes)"}


@dataclass(frozen=True, slots=True)
class Name:
    """A string that must match `pattern` exactly, taken as it is (no trimming)."""
    name: str
    pattern: re.Pattern
    max_length: int
    rule: str
    required = True

    def read(self, item: dict, now: datetime) -> str:
        value = item.get(self.name)
        if not isinstance(value, str) or not self.pattern.fullmatch(value):
            raise ItemError(f"{self.name} must {self.rule} ({self.max_length} at most)")
        return value

    def schema(self) -> dict:
        return {"type": "string", "pattern": self.pattern.pattern, "maxLength": self.max_length}


@dataclass(frozen=True, slots=True)
class Number:
    name: str
    required = True

    def read(self, item: dict, now: datetime) -> float:
        value = item.get(self.name)
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal) or not math.isfinite(float(value)):
            raise ItemError(f"{self.name} must be a finite number")
        return float(value)

    def schema(self) -> dict:
        return {"type": "number"}


@dataclass(frozen=True, slots=True)
class Tags:
    """Labels of a metric series: names to strings, in canonical (sorted) order."""
    name: str
    required = False

    def read(self, item: dict, now: datetime) -> dict[str, str]:
        value = item.get(self.name)
        if value is None:
            return {}
        if not isinstance(value, dict) or len(value) > MAX_TAGS:
            raise ItemError(f"{self.name} must be an object of at most {MAX_TAGS} string values")
        if not all(isinstance(k, str) and 0 < len(k) <= MAX_TAG_NAME and isinstance(v, str) and len(v) <= MAX_TAG_VALUE
                   for k, v in value.items()):
            raise ItemError(f"{self.name} must map names (1-{MAX_TAG_NAME} characters) to strings ({MAX_TAG_VALUE} at most)")
        if len(compact_json(value)) > MAX_TAGS_BYTES:  # as tags_key (analytics.time_buckets) writes them
            raise ItemError(f"{self.name} must be at most {MAX_TAGS_BYTES} bytes as JSON")
        return dict(sorted(value.items()))

    def schema(self) -> dict:
        return {"type": "object", "maxProperties": MAX_TAGS, "propertyNames": {"minLength": 1, "maxLength": MAX_TAG_NAME},
                "additionalProperties": {"type": "string", "maxLength": MAX_TAG_VALUE}, "x-maxJsonBytes": MAX_TAGS_BYTES,
                "description": f"at most {MAX_TAGS_BYTES} bytes as compact JSON (non-ASCII as \\u escapes)"}


class Item:
    """One kind of item: each row column and the field it is read from."""

    def __init__(self, kind: str, fields: dict) -> None:
        self.kind, self.fields = kind, fields
        self.readers = tuple((column, field.read) for column, field in fields.items())

    def parse(self, item, now: datetime) -> dict:
        if not isinstance(item, dict):
            raise ItemError(f"each {self.kind} must be an object")
        return {column: read(item, now) for column, read in self.readers}

    def schema(self) -> dict:
        fields = self.fields.values()
        return {"type": "object", "required": [field.name for field in fields if field.required],
                "properties": {field.name: field.schema() for field in fields}}


ITEMS = {
    "transactions": Item("transaction", {
        "external_id": Text("id", 128), "amount_e4": Amount("amount"),
        "currency": Code("currency", 3, pattern=CURRENCY, rule="an ISO 4217 code such as USD"),
        "status": Choice("status", STATUSES), "user_id": Text("user_id", 128), "occurred_at": Timestamp("timestamp"),
        "details": Metadata("metadata")}),
    "activities": Item("activity", {
        "user_id": Text("user_id", 128), "action": Text("action", 64), "path": Text("path", 512, required=False),
        "session_id": Text("session_id", 128, required=False), "occurred_at": Timestamp("timestamp"),
        "details": Metadata("metadata")}),
    "metrics": Item("metric", {
        "name": Name("name", METRIC_NAME, MAX_METRIC_NAME,
                     "start with a letter, _ or : and use letters, digits, _ : . -"),
        "value": Number("value"), "occurred_at": Timestamp("timestamp"), "tags": Tags("tags")}),
}


def amount_text(amount_e4: int) -> str:
    """A stored amount as a decimal string: two places, or four when the cents do not say it all."""
    sign = "-" if amount_e4 < 0 else ""  # a delta may be negative
    whole, fraction = divmod(abs(amount_e4), AMOUNT_SCALE)
    return f"{sign}{whole}.{fraction // 100:02d}" if fraction % 100 == 0 else f"{sign}{whole}.{fraction:04d}"


def parse_batch(payload: dict, now: datetime) -> tuple[dict[str, list[dict]], list[dict]]:
    """Split a batch into valid rows per kind and per-item errors ({index, kind, message})."""
    valid: dict[str, list[dict]] = {}
    errors: list[dict] = []
    for key, kind in ITEMS.items():
        valid[key] = rows = []
        for index, item in enumerate(payload.get(key) or []):
            try:
                rows.append(kind.parse(item, now))
            except ItemError as error:
                errors.append({"index": index, "kind": kind.kind, "message": str(error)})
    return valid, errors


class BatchError(ValueError):
    """The batch as a whole is unusable; `status` is the HTTP answer (400, 413 or 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_batch_shape(payload) -> None:
    """Refuse a batch that is not {"transactions": [...], "activities": [...], "metrics": [...]} or is too big."""
    if not isinstance(payload, dict):
        raise BatchError(400, "the body must be a JSON object")
    unknown = sorted(set(payload) - set(ITEMS))
    if unknown:
        raise BatchError(422, f"unknown keys {unknown}; send transactions, activities and/or metrics")
    if not any(key in payload for key in ITEMS):
        raise BatchError(422, "send at least one of transactions, activities, metrics")
    for key in ITEMS:
        if payload.get(key) is not None and not isinstance(payload[key], list):
            raise BatchError(422, f"{key} must be an array")
    total = sum(len(payload.get(key) or []) for key in ITEMS)
    if total > MAX_BATCH_ITEMS:
        raise BatchError(413, f"{total} items in one request; at most {MAX_BATCH_ITEMS}")


def batch_schema(item_ref) -> dict:
    """The request body of POST /api/v1/events; `item_ref(kind)` names where each item's schema is."""
    return {"type": "object", "minProperties": 1, "additionalProperties": False,
            "description": f"at most {MAX_BATCH_ITEMS} items in all (413 above)",
            "properties": {key: {"type": "array", "maxItems": MAX_BATCH_ITEMS, "items": item_ref(kind.kind)}
                           for key, kind in ITEMS.items()}}
