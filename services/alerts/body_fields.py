"""Request bodies read field by field against a table: each field's type states its limit once, both for the
check (`read`, a FieldError naming the field) and for the OpenAPI schema (`schema`). Alert rules and receivers
are read this way."""
import re
from dataclasses import dataclass

from services.ingest.event_schema import MAX_TAG_NAME


class FieldError(ValueError):
    """A body that cannot be saved; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Text:
    max_length: int
    pattern: re.Pattern | None = None
    rule: str = ""

    def read(self, name: str, value):
        if not isinstance(value, str) or not value.strip() or len(value) > self.max_length:
            raise FieldError(name, f"{name} must be 1 to {self.max_length} characters, not blank")
        if self.pattern and not self.pattern.fullmatch(value):
            raise FieldError(name, f"{name} must {self.rule}")
        return value

    def schema(self) -> dict:
        pattern = self.pattern.pattern if self.pattern else r"\S"
        return {"type": "string", "minLength": 1, "maxLength": self.max_length, "pattern": pattern}


@dataclass(frozen=True)
class Choice:
    options: tuple

    def read(self, name: str, value):
        if value not in self.options or isinstance(value, bool):
            raise FieldError(name, f"{name} must be one of {', '.join(map(str, self.options))}")
        return value

    def schema(self) -> dict:
        return {"enum": list(self.options)}


@dataclass(frozen=True)
class Number:
    minimum: float
    maximum: float
    integer: bool = False

    def read(self, name: str, value):
        kind = int if self.integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or not self.minimum <= value <= self.maximum:
            what = "an integer" if self.integer else "a number"
            raise FieldError(name, f"{name} must be {what} from {self.minimum:g} to {self.maximum:g}")
        return value if self.integer else float(value)  # NaN fails the range test above

    def schema(self) -> dict:
        return {"type": "integer" if self.integer else "number", "minimum": self.minimum, "maximum": self.maximum}


@dataclass(frozen=True)
class Names:
    """A list of distinct tag names."""
    max_items: int

    def read(self, name: str, value):
        if (not isinstance(value, list) or len(value) > self.max_items or len(set(map(str, value))) != len(value)
                or not all(isinstance(tag, str) and 0 < len(tag) <= MAX_TAG_NAME for tag in value)):
            raise FieldError(name, f"{name} must be at most {self.max_items} distinct names of 1 to {MAX_TAG_NAME} characters")
        return value

    def schema(self) -> dict:
        return {"type": "array", "maxItems": self.max_items, "uniqueItems": True,
                "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_NAME}}


@dataclass(frozen=True)
class StringMap:
    max_items: int
    max_value: int
    key_pattern: re.Pattern | None = None

    def read(self, name: str, value):
        if not isinstance(value, dict) or len(value) > self.max_items or not all(
                self.key_ok(key) and isinstance(text, str) and len(text) <= self.max_value for key, text in value.items()):
            raise FieldError(name, f"{name} must map at most {self.max_items} names to strings of at most "
                                  f"{self.max_value} characters")
        return value

    def key_ok(self, key: str) -> bool:
        return bool(self.key_pattern.fullmatch(key)) if self.key_pattern else 0 < len(key) <= MAX_TAG_NAME

    def schema(self) -> dict:
        names = {"pattern": self.key_pattern.pattern} if self.key_pattern else {"minLength": 1, "maxLength": MAX_TAG_NAME}
        return {"type": "object", "maxProperties": self.max_items, "propertyNames": names,
                "additionalProperties": {"type": "string", "maxLength": self.max_value}}


@dataclass(frozen=True)
class Flag:
    def read(self, name: str, value):
        if not isinstance(value, bool):
            raise FieldError(name, f"{name} must be true or false")
        return value

    def schema(self) -> dict:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Form:
    """A body's fields: their types, which are required, which take null, and the defaults of a whole one."""
    kind: str
    fields: dict
    required: tuple
    nullable: tuple
    defaults: dict

    def read(self, body: dict, partial: bool) -> dict:
        """Each field checked alone, else FieldError naming it; a whole body (`partial=False`) must hold the required
        fields and takes the defaults for the others."""
        unknown = sorted(set(body) - set(self.fields))
        if unknown:
            raise FieldError(unknown[0], f"{unknown[0]} is not a {self.kind} field; fields: {', '.join(self.fields)}")
        fields = {name: self.read_field(name, value) for name, value in body.items()}
        missing = [] if partial else [name for name in self.required if name not in fields]
        if missing:
            raise FieldError(missing[0], f"{missing[0]} is required")
        return fields if partial else self.defaults | fields

    def read_field(self, name: str, value):
        if value is None:
            if name in self.nullable:
                return None
            raise FieldError(name, f"{name} cannot be null")
        return self.fields[name].read(name, value)

    def nothing_to_change(self) -> FieldError:
        return FieldError("body", f"nothing to change: send any of {', '.join(self.fields)}")

    def properties(self) -> dict:
        """The fields' JSON Schemas, null allowed where the field takes it."""
        return {name: field.schema() | ({"type": [field.schema()["type"], "null"]} if name in self.nullable else {})
                for name, field in self.fields.items()}
