"""A table or listing as the report prints it, and the number formats every table shares.

Cells are text, already formatted: the CSV holds what the HTML report shows, so a reviewer can check one against
the other. Arithmetic is Decimal (values as entered); only the printed figure is rounded, half up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from jk500db.export.tables.binomial import ConfidenceInterval

#: What an empty cell shows (never "-" or "=": a spreadsheet would read those as a formula).
MISSING = "—"
ONE_PLACE = Decimal("0.1")


@dataclass(frozen=True)
class Table:
    """One analysis table or listing."""

    #: file stem and HTML anchor, e.g. "t01_disposition".
    key: str
    #: printed number, e.g. "Table 1" or "Listing 3".
    number: str
    title: str
    #: the analysis population and its N, e.g. "Safety population (N = 10)".
    population: str
    columns: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    footnotes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"{self.key}: a row has {len(row)} cells for {len(self.columns)} columns: {row}")


def rounded(value: Decimal, places: Decimal = ONE_PLACE) -> str:
    return str(value.quantize(places, rounding=ROUND_HALF_UP))


def percent(count: int, total: int) -> str:
    """``count`` of ``total`` as a percentage with one decimal ("25.0"); empty for a zero denominator."""
    if total == 0:
        return ""
    return rounded(Decimal(count) * 100 / Decimal(total))


def count_percent(count: int, total: int) -> str:
    """ "3 (25.0%)"; "0" alone when the denominator is zero."""
    if total == 0:
        return str(count)
    return f"{count} ({percent(count, total)}%)"


def interval(ci: ConfidenceInterval) -> str:
    """ "5.5 to 57.2" (percent, one decimal)."""
    return f"{rounded(ci.lower * 100)} to {rounded(ci.upper * 100)}"


def median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def mean(values: Sequence[Decimal]) -> Decimal:
    return sum(values, Decimal(0)) / len(values)


def standard_deviation(values: Sequence[Decimal]) -> Decimal | None:
    """Sample standard deviation (n - 1); None for fewer than two values."""
    if len(values) < 2:
        return None
    centre = mean(values)
    return (sum(((v - centre) ** 2 for v in values), Decimal(0)) / (len(values) - 1)).sqrt()


def as_decimals(values: Sequence[int | Decimal]) -> list[Decimal]:
    return [Decimal(v) for v in values]


def median_range(values: Sequence[int | Decimal], places: Decimal = ONE_PLACE) -> str:
    """ "12.0 (3.0–17.0)": median and range; the missing mark without values."""
    numbers = as_decimals(values)
    if not numbers:
        return MISSING
    return f"{rounded(median(numbers), places)} ({rounded(min(numbers), places)}–{rounded(max(numbers), places)})"


def mean_sd(values: Sequence[int | Decimal]) -> str:
    numbers = as_decimals(values)
    if not numbers:
        return MISSING
    sd = standard_deviation(numbers)
    return f"{rounded(mean(numbers))} ({MISSING if sd is None else rounded(sd)})"


def scientific(value: Decimal | None) -> str:
    """Cell doses such as 1.00E+7 (three significant digits)."""
    return MISSING if value is None else f"{value:.2E}"


def median_range_scientific(values: Sequence[Decimal]) -> str:
    if not values:
        return MISSING
    return f"{scientific(median(values))} ({scientific(min(values))}–{scientific(max(values))})"


def text(value: object) -> str:
    """A cell from any value: the missing mark for None, ``str()`` otherwise (Decimals as entered)."""
    return MISSING if value is None or value == "" else str(value)
