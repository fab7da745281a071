"""Validation of ingest items (SPEC §6): each raw item becomes a plain row dict or an ItemError."""
import json
import math
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

STATUSES = ("completed", "pending", "failed", "refunded")
AMOUNT_SCALE = 10_000  # amounts are stored in ten-thousandths of the currency unit
MAX_AMOUNT = Decimal("1e12")
CURRENCY = re.compile(r"^[A-Z]{3}$")
METRIC_NAME = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:.\-]{0,199}$")
MAX_METADATA_BYTES = 4096
MAX_TAGS = 16
MAX_TAGS_BYTES = 500  # the canonical tag string is part of a rollup's key
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)


class ItemError(ValueError):
    """Why one item was rejected; the message names the field."""


def text(item: dict, field: str, max_length: int, required: bool = True) -> str | None:
    value = item.get(field)
    if type(value) is str and 0 < len(value) <= max_length and not value[0].isspace() and not value[-1].isspace():
        return value  # the common case, checked cheaply: this runs three times per item
    if value is None or value == "":
        if required:
            raise ItemError(f"{field} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ItemError(f"{field} must be a string")
    value = str(value).strip()
    if not value or len(value) > max_length:
        raise ItemError(f"{field} must be 1 to {max_length} characters")
    return value


def timestamp(item: dict, now: datetime) -> datetime:
    """ISO-8601 (a missing zone means UTC) or Unix seconds; absent means now."""
    value = item.get("timestamp")
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
        raise ItemError("timestamp must be ISO-8601 (e.g. 2026-01-31T12:00:00Z) or Unix seconds") from None
    if not EARLIEST <= moment <= now + FUTURE_TOLERANCE:
        raise ItemError("timestamp is out of range (2000-01-01 to one day from now)")
    return moment


def metadata(item: dict, field: str = "metadata") -> str:
    """The object as compact JSON text, ready to store (numbers stay numbers)."""
    value = item.get(field)
    if value is None or value == {}:
        return "{}"
    if not isinstance(value, dict):
        raise ItemError(f"{field} must be an object")
    encoded = json.dumps(value, default=json_number, separators=(",", ":"))
    if len(encoded) > MAX_METADATA_BYTES:
        raise ItemError(f"{field} must be at most {MAX_METADATA_BYTES} bytes as JSON")
    return encoded


def json_number(value):
    """Amounts arrive as Decimal (exact parsing); inside free-form metadata they are plain JSON numbers."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def amount_e4(item: dict) -> int:
    value = item.get("amount")
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ItemError("amount is required: a decimal string or number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ItemError("amount must be a decimal number, e.g. \"19.99\"") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        raise ItemError(f"amount must be between 0 and {MAX_AMOUNT:,.0f}")
    scaled = amount * AMOUNT_SCALE
    if scaled != scaled.to_integral_value():
        raise ItemError("amount has more than 4 decimal places")
    return int(scaled)


def amount_text(amount_e4: int) -> str:
    """A stored amount as a decimal string: two places, or four when the cents do not say it all."""
    value = Decimal(amount_e4).scaleb(-4)
    return f"{value:.2f}" if value == value.quantize(Decimal("0.01")) else f"{value:.4f}"


def choice(item: dict, field: str, allowed: tuple[str, ...]) -> str:
    value = item.get(field)
    if value not in allowed:
        raise ItemError(f"{field} must be one of {', '.join(allowed)}")
    return value


def transaction(item: dict, now: datetime) -> dict:
    currency = text(item, "currency", 3)
    if not CURRENCY.match(currency.upper()):
        raise ItemError("currency must be an ISO 4217 code such as USD")
    return {"external_id": text(item, "id", 128), "amount_e4": amount_e4(item), "currency": currency.upper(),
            "status": choice(item, "status", STATUSES), "user_id": text(item, "user_id", 128),
            "occurred_at": timestamp(item, now), "details": metadata(item)}


def activity(item: dict, now: datetime) -> dict:
    return {"user_id": text(item, "user_id", 128), "action": text(item, "action", 64),
            "path": text(item, "path", 512, required=False), "session_id": text(item, "session_id", 128, required=False),
            "occurred_at": timestamp(item, now), "details": metadata(item)}


def metric(item: dict, now: datetime) -> dict:
    name = item.get("name")
    if not isinstance(name, str) or not METRIC_NAME.match(name):
        raise ItemError("name must start with a letter, _ or : and use letters, digits, _ : . - (200 at most)")
    value = item.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal) or not math.isfinite(float(value)):
        raise ItemError("value must be a finite number")
    return {"name": name, "value": float(value), "occurred_at": timestamp(item, now), "tags": tags(item)}


def tags(item: dict) -> dict[str, str]:
    value = item.get("tags")
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_TAGS:
        raise ItemError(f"tags must be an object of at most {MAX_TAGS} string values")
    if not all(isinstance(k, str) and 0 < len(k) <= 64 and isinstance(v, str) and len(v) <= 200
               for k, v in value.items()):
        raise ItemError("tags must map names (1-64 characters) to strings (200 at most)")
    if len(json.dumps(value)) > MAX_TAGS_BYTES:
        raise ItemError(f"tags must be at most {MAX_TAGS_BYTES} bytes as JSON")
    return dict(sorted(value.items()))


PARSERS = {"transactions": ("transaction", transaction), "activities": ("activity", activity),
           "metrics": ("metric", metric)}


def parse_batch(payload: dict, now: datetime) -> tuple[dict[str, list[dict]], list[dict]]:
    """Split a batch into valid rows per kind and per-item errors ({index, kind, message})."""
    valid: dict[str, list[dict]] = {}
    errors: list[dict] = []
    for key, (kind, parse) in PARSERS.items():
        valid[key] = []
        for index, item in enumerate(payload.get(key) or []):
            try:
                if not isinstance(item, dict):
                    raise ItemError(f"each {kind} must be an object")
                valid[key].append(parse(item, now))
            except ItemError as error:
                errors.append({"index": index, "kind": kind, "message": str(error)})
    return valid, errors


MAX_BATCH_ITEMS = 5000


class BatchError(ValueError):
    """The batch as a whole is unusable; `status` is the HTTP answer (400, 413 or 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_batch_shape(payload) -> None:
    """Refuse a batch that is not {"transactions": [...], "activities": [...], "metrics": [...]} or is too big."""
    if not isinstance(payload, dict):
        raise BatchError(400, "the body must be a JSON object")
    unknown = sorted(set(payload) - set(PARSERS))
    if unknown:
        raise BatchError(422, f"unknown keys {unknown}; send transactions, activities and/or metrics")
    if not any(key in payload for key in PARSERS):
        raise BatchError(422, "send at least one of transactions, activities, metrics")
    for key in PARSERS:
        if payload.get(key) is not None and not isinstance(payload[key], list):
            raise BatchError(422, f"{key} must be an array")
    total = sum(len(payload.get(key) or []) for key in PARSERS)
    if total > MAX_BATCH_ITEMS:
        raise BatchError(413, f"{total} items in one request; at most {MAX_BATCH_ITEMS}")
