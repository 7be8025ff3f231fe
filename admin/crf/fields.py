"""Form fields for the value types of the case-report forms.

Each field shows the value as the person typed it when the form comes back with an error, and turns the text
into the model's type: an exact ``Decimal`` from the digits entered (never a float), a timezone-aware UTC
time, a ``PartialDate`` that is never imputed, a yes/no/not recorded answer.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from wtforms import DateTimeLocalField, SelectField, StringField
from wtforms.validators import ValidationError as FieldError

from jk500db.models.types import PartialDate


def _typed(field: Any) -> str | None:
    """What the person typed, or None when the form was not submitted."""
    return field.raw_data[0] if field.raw_data else None


class DecimalText(StringField):
    """A number kept exactly as entered: "2.10" stays 2.10 (clinical arithmetic uses the value as entered)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = (valuelist[0] if valuelist else "").strip()
        if not text:
            self.data = None
            return
        try:
            value = Decimal(text)
        except InvalidOperation:
            self.data = None
            raise ValueError("must be a number, such as 12 or 3.5") from None
        if not value.is_finite():
            self.data = None
            raise ValueError("must be a number, such as 12 or 3.5")
        self.data = value

    def _value(self) -> str:
        typed = _typed(self)
        if typed is not None:
            return str(typed)
        return "" if self.data is None else str(self.data)


class PartialDateField(StringField):
    """A date known to the year, the month or the day: "2023", "2023-04" or "2023-04-17"."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = (valuelist[0] if valuelist else "").strip()
        if not text:
            self.data = None
            return
        try:
            self.data = PartialDate.parse(text)
        except ValueError:
            self.data = None
            raise ValueError("must be YYYY, YYYY-MM or YYYY-MM-DD (a real date; leave out what is unknown)") from None

    def _value(self) -> str:
        typed = _typed(self)
        if typed is not None:
            return str(typed)
        if isinstance(self.data, PartialDate):
            return self.data.isoformat()
        return ""


class UtcDateTimeField(DateTimeLocalField):
    """A moment entered and shown in UTC (the label says so); stored timezone-aware."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"], **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError("must be a date and time, YYYY-MM-DD HH:MM (UTC)") from None
        if self.data is not None:
            self.data = self.data.replace(tzinfo=dt.UTC)

    def _value(self) -> str:
        typed = _typed(self)
        if typed is not None:
            return str(typed)
        if isinstance(self.data, dt.datetime):
            return self.data.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")
        return ""


YES, NO = "yes", "no"


class YesNoField(SelectField):
    """A yes/no answer that may also be not recorded (a nullable boolean is never a silent "no")."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, choices=[("", "Not recorded"), (YES, "Yes"), (NO, "No")], **kwargs)

    def process_data(self, value: Any) -> None:
        self.data = None if value is None else (YES if value else NO)

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = valuelist[0] if valuelist and valuelist[0] in (YES, NO) else None

    def pre_validate(self, form: Any) -> None:
        if self.raw_data and self.raw_data[0] not in ("", YES, NO):
            raise FieldError("must be Yes, No or Not recorded")

    @property
    def value(self) -> bool | None:
        return None if self.data is None else self.data == YES


class ChoiceField(SelectField):
    """A choice stored as text or an id; the blank first option means "none"."""

    def __init__(self, *args: Any, number: bool = False, **kwargs: Any) -> None:
        self.number = number
        super().__init__(*args, coerce=self._coerce, **kwargs)

    def _coerce(self, value: Any) -> Any:
        if value is None or value == "":
            return None
        if hasattr(value, "value"):  # a vocabulary member (a StrEnum) read from the record
            return str(value.value)
        return int(value) if self.number else str(value)

    def pre_validate(self, form: Any) -> None:
        if self.data is None:
            return  # "none": InputRequired says whether that is allowed
        if not any(self.data == self._coerce(choice[0]) for choice in self.choices or []):
            raise FieldError("is not one of the choices offered")
