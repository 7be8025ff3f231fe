"""Investigator sign-off (issue 5): what is waiting for the investigator's electronic signature, and signing it.

The worklist has one section per signature meaning (``SignatureMeaning``): eligibility on screenings, AE
causality and DLT decisions on adverse events, responses on response assessments, and the review of each
subject's casebook. Each item either needs signing, is signed (by whom, when), or carries a signature that a
later change invalidated: the signed content no longer hashes as it did (21 CFR 11.70, ES-06), whether or not
that has been recorded on the signature yet. Investigators sign; monitors, admins and data managers see the
worklist read-only (data managers chase what is missing, DESIGN.md, and it shows nothing their forms do not).

Signing shows what will be signed, the meaning in words and the signer's printed name, and asks for the
username and password again (ES-03, ES-04); ``jk500db.services.signatures.sign`` decides. A refusal is
written to the security log by the service and committed here, so wrong passwords count toward lockout as at
login. The form carries the content hash the investigator was shown: content that changed in between is not
signed. A DLT decision is recorded (``update_record``, with a reason) and signed in the same transaction.

Reads never write: a GET only *shows* that a signature no longer stands; the signing POST records it
(``mark_invalidated``) for the subject's signatures the change affected.

The worklist reads a fixed number of statements whatever the number of subjects or records. Whether a
signature still stands is decided exactly, as ``signature_status`` does, but in batches: a signature whose
record version moved is invalid outright; for the others the current content of every record still to judge is
read one statement per table (``signatures.signature_states``), not one hash per signature.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_login import current_user
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from admin.auth import safe_next
from admin.extensions import db, utcnow
from admin.links import record_url
from admin.pages.base import SecurePage, words
from jk500db.errors import Jk500Error, ValidationError
from jk500db.models import (
    SERIOUSNESS_CRITERIA,
    AdverseEvent,
    Base,
    CtcaeTerm,
    EligibilityCriterion,
    Query,
    ResponseAssessment,
    Screening,
    Signature,
    Subject,
    User,
)
from jk500db.models.vocabularies import CriterionStatus, DltDecision, QueryStatus, RoleCode, SignatureMeaning
from jk500db.services import signatures
from jk500db.services.records import update_record
from jk500db.services.signatures import MEANING_TABLES, SignatureState, SigningRefused

#: What each signature means, in the words the signer reads before signing (21 CFR 11.50: the meaning).
MEANING_STATEMENTS: dict[SignatureMeaning, str] = {
    SignatureMeaning.ELIGIBILITY_CONFIRMED: (
        "I confirm that this subject meets all eligibility criteria of the JK500 protocol: I have reviewed the "
        "screening data shown here and every inclusion criterion is met and no exclusion criterion applies."
    ),
    SignatureMeaning.AE_CAUSALITY_ASSESSED: (
        "I confirm that I have assessed this adverse event and that its grade, seriousness and causality to "
        "JK500, IL-2 and lymphodepletion are as recorded here."
    ),
    SignatureMeaning.DLT_CONFIRMED: (
        "I confirm my decision, recorded here, on whether this adverse event is a dose-limiting toxicity, "
        "having reviewed it against the protocol's definition of a DLT."
    ),
    SignatureMeaning.RESPONSE_CONFIRMED: (
        "I confirm that I have reviewed this response assessment and that the response category shown here is correct."
    ),
    SignatureMeaning.CASEBOOK_REVIEWED: (
        "I confirm that I have reviewed this subject's complete casebook and that, to the best of my knowledge, "
        "the data recorded in it are complete and accurate."
    ),
}
#: Section headings of the worklist, in the order a subject passes through the trial.
MEANING_TITLES: dict[SignatureMeaning, str] = {
    SignatureMeaning.ELIGIBILITY_CONFIRMED: "Eligibility",
    SignatureMeaning.AE_CAUSALITY_ASSESSED: "Adverse event causality",
    SignatureMeaning.DLT_CONFIRMED: "Dose-limiting toxicity decisions",
    SignatureMeaning.RESPONSE_CONFIRMED: "Response",
    SignatureMeaning.CASEBOOK_REVIEWED: "Casebook review",
}
#: Each meaning's record table (one per meaning: MEANING_TABLES allows exactly one today).
MEANING_TABLE: dict[SignatureMeaning, str] = {meaning: min(tables) for meaning, tables in MEANING_TABLES.items()}
DECISION_WORDS: dict[DltDecision | None, str] = {
    DltDecision.CONFIRMED: "confirmed DLT",
    DltDecision.NOT_A_DLT: "not a DLT",
    None: "not decided",
}
VERDICT_WORDS: dict[bool | None, str] = {
    True: "eligible",
    False: "not eligible",
    None: "not evaluable (a criterion is missing)",
}
#: Rows read per section at most; the filters narrow a longer list.
SECTION_LIMIT = 500
NOT_ENTERED = "not entered"


class ItemState(StrEnum):
    NEEDS_SIGNING = "needs_signing"
    INVALIDATED = "invalidated"
    SIGNED = "signed"


STATE_WORDS: dict[ItemState, str] = {
    ItemState.NEEDS_SIGNING: "needs signing",
    ItemState.INVALIDATED: "signature invalidated",
    ItemState.SIGNED: "signed",
}


class ContentChanged(Jk500Error):
    """What the investigator was shown is no longer what would be signed."""


# --- words -------------------------------------------------------------------------------------------------


def day(value: dt.date | None) -> str:
    return value.isoformat() if value else "—"


def instant(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def code_words(value: Any) -> str:
    """A vocabulary value as words ("not_related" -> "Not related"); "not entered" for None."""
    if value is None:
        return NOT_ENTERED
    return words(str(getattr(value, "value", value)))


def yes_no(value: bool | None) -> str:
    return NOT_ENTERED if value is None else ("yes" if value else "no")


def number(value: Any) -> str:
    return NOT_ENTERED if value is None else str(value)


def casebook_url(subject_number: str) -> str | None:
    """The subject's casebook page, when the app has one (another page builds it; link only if it exists)."""
    path = f"/casebook/{subject_number}"
    adapter = current_app.url_map.bind("localhost")
    try:
        adapter.match(path, method="GET")
    except RequestRedirect as moved:  # the rule exists with a trailing slash
        return str(moved.new_url).removeprefix("http://localhost")
    except HTTPException:
        return None
    return path


# --- batched content hashes --------------------------------------------------------------------------------

Key = signatures.RecordKey

#: The SHA-256 ``signatures.content_sha256`` gives each record now, in one statement per table involved (the
#: service's batch; kept under the page's former name, which tests/web/test_page_signoff.py checks).
current_content_hashes = signatures.content_sha256_many


# --- the worklist ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    text: str
    url: str | None = None
    #: a Bootstrap text class for what needs the reader's eye (a difference, a failed criterion).
    emphasis: str | None = None


@dataclass
class Item:
    """One record awaiting, bearing or having lost a signature of one meaning."""

    meaning: SignatureMeaning
    table_name: str
    record_id: int
    subject_number: str
    version: int
    cells: list[Cell]
    #: why it cannot be signed yet (the meaning's statement would not be true); None when it can.
    blocked: str | None = None
    state: ItemState = ItemState.NEEDS_SIGNING
    #: the newest signature of this meaning on the record.
    signature: Signature | None = None
    #: why that signature no longer stands.
    invalid_reason: str | None = None
    #: the signature is invalid but nothing has recorded that yet (the next signing POST will).
    invalid_unrecorded: bool = False

    @property
    def key(self) -> Key:
        return (self.table_name, self.record_id)


@dataclass
class Section:
    meaning: SignatureMeaning
    title: str
    statement: str
    headers: list[str]
    items: list[Item] = field(default_factory=list)
    truncated: bool = False

    def count(self, state: ItemState) -> int:
        return sum(1 for item in self.items if item.state is state)


@dataclass(frozen=True)
class Filters:
    subject: str | None = None
    meaning: SignatureMeaning | None = None
    state: ItemState | None = None

    def args(self) -> dict[str, Any]:
        values = {"subject": self.subject, "meaning": self.meaning, "state": self.state}
        return {name: str(value) for name, value in values.items() if value}


@dataclass(frozen=True)
class CriterionLine:
    code: str
    derived: CriterionStatus
    investigator: CriterionStatus | None
    reason: str | None
    evidence: str

    @property
    def effective(self) -> CriterionStatus:
        """The investigator's status where they differ (with a reason), else the derived one."""
        return self.investigator or self.derived

    def text(self) -> str:
        if self.investigator is None or self.investigator == self.derived:
            return f"{self.code} {code_words(self.derived).lower()}"
        return (
            f"{self.code} derived {code_words(self.derived).lower()}, investigator "
            f"{code_words(self.investigator).lower()}"
        )


def eligibility_block(criteria: Sequence[CriterionLine]) -> str | None:
    """Why "meets all eligibility criteria" cannot be signed yet, or None when it can."""
    if not criteria:
        return "no eligibility criterion has been evaluated yet"
    unmet = [c for c in criteria if c.effective is not CriterionStatus.PASS]
    if unmet:
        listed = ", ".join(f"{c.code} {code_words(c.effective).lower()}" for c in unmet)
        return f"not every criterion is met ({listed})"
    return None


def subject_ids_query(filters: Filters) -> sa.Select[tuple[int]]:
    query = sa.select(Subject.id).where(Subject.removed_at.is_(None))
    if filters.subject is not None:
        query = query.where(Subject.subject_number == filters.subject)
    return query


def read_criteria(session: Session, screening_ids: sa.Select[tuple[int]]) -> dict[int, list[CriterionLine]]:
    rows = session.execute(
        sa.select(
            EligibilityCriterion.screening_id,
            EligibilityCriterion.code,
            EligibilityCriterion.status,
            EligibilityCriterion.investigator_status,
            EligibilityCriterion.investigator_reason,
            EligibilityCriterion.evidence,
        ).where(EligibilityCriterion.screening_id.in_(screening_ids), EligibilityCriterion.removed_at.is_(None))
    )
    result: dict[int, list[CriterionLine]] = defaultdict(list)
    for screening_id, code, status, investigator, reason, evidence in rows:
        investigator_status = None if investigator is None else CriterionStatus(investigator)
        result[screening_id].append(CriterionLine(code, CriterionStatus(status), investigator_status, reason, evidence))
    for lines in result.values():  # as the protocol lists them: inclusion IN1-IN4, then exclusion EX1-EX8
        lines.sort(key=lambda line: (not line.code.startswith("IN"), line.code))
    return result


def eligibility_section(session: Session, subject_ids: sa.Select[tuple[int]]) -> Section:
    meaning = SignatureMeaning.ELIGIBILITY_CONFIRMED
    section = _section(meaning, ["Screening date", "Derived verdict", "Criteria not met"])
    screening_ids = sa.select(Screening.id).where(Screening.subject_id.in_(subject_ids), Screening.removed_at.is_(None))
    criteria = read_criteria(session, screening_ids)
    rows = session.execute(
        sa.select(
            Screening.id,
            Screening.version,
            Screening.screening_date,
            Screening.eligible_derived,
            Subject.subject_number,
        )
        .join(Subject, Subject.id == Screening.subject_id)
        .where(Screening.id.in_(screening_ids))
        .order_by(Subject.subject_number)
        .limit(SECTION_LIMIT + 1)
    ).all()
    for record_id, version, screening_date, eligible, subject_number in rows[:SECTION_LIMIT]:
        lines = criteria.get(record_id, [])
        not_met = [c.text() for c in lines if c.effective is not CriterionStatus.PASS or c.derived is not c.effective]
        cells = [
            Cell(day(screening_date), record_url("screening", record_id)),
            Cell(VERDICT_WORDS[eligible], emphasis=None if eligible else "text-danger"),
            Cell("; ".join(not_met) or "none", emphasis="text-danger" if not_met else None),
        ]
        item = Item(meaning, "screening", record_id, subject_number, version, cells, eligibility_block(lines))
        section.items.append(item)
    section.truncated = len(rows) > SECTION_LIMIT
    return section


def seriousness(event: AdverseEvent) -> str:
    if not event.serious:
        return "no"
    criteria = [words(name.removeprefix("serious_")).lower() for name in SERIOUSNESS_CRITERIA if getattr(event, name)]
    return "yes: " + ", ".join(criteria)


def causality(event: AdverseEvent) -> str:
    return " / ".join(
        code_words(value).lower() for value in (event.related_jk500, event.related_il2, event.related_lymphodepletion)
    )


def grades(event: AdverseEvent) -> Cell:
    if event.derived_grade is None:
        return Cell(str(event.grade))
    differs = event.derived_grade != event.grade
    return Cell(f"{event.grade} (derived {event.derived_grade})", emphasis="text-danger" if differs else None)


def term_text(term: str, verbatim: str | None) -> str:
    return f"{term} ({verbatim})" if verbatim else term


def causality_block(event: AdverseEvent) -> str | None:
    missing = [
        name
        for name, value in (
            ("JK500", event.related_jk500),
            ("IL-2", event.related_il2),
            ("lymphodepletion", event.related_lymphodepletion),
        )
        if value is None
    ]
    if missing:
        return "the causality to " + ", ".join(missing) + " is not entered yet"
    return None


def adverse_event_sections(
    session: Session, subject_ids: sa.Select[tuple[int]], meanings: Collection[SignatureMeaning]
) -> list[Section]:
    """AE causality (every live AE) and DLT decisions (candidates, and any AE with a decision), one read."""
    causality_section = _section(
        SignatureMeaning.AE_CAUSALITY_ASSESSED,
        ["AE", "Term", "Grade", "Causality: JK500 / IL-2 / lymphodepletion", "Serious"],
    )
    dlt_section = _section(SignatureMeaning.DLT_CONFIRMED, ["AE", "Term", "Grade", "Why a candidate", "Decision"])
    rows = session.execute(
        sa.select(AdverseEvent, CtcaeTerm.term, Subject.subject_number)
        .join(CtcaeTerm, CtcaeTerm.id == AdverseEvent.ctcae_term_id)
        .join(Subject, Subject.id == AdverseEvent.subject_id)
        .where(AdverseEvent.subject_id.in_(subject_ids), AdverseEvent.removed_at.is_(None))
        .order_by(Subject.subject_number, AdverseEvent.ae_number)
        .limit(SECTION_LIMIT + 1)
    ).all()
    for event, term, subject_number in rows[:SECTION_LIMIT]:
        link = record_url("adverse_event", event.id)
        head = [Cell(str(event.ae_number), link), Cell(term_text(term, event.verbatim)), grades(event)]
        causality_section.items.append(
            Item(
                causality_section.meaning,
                "adverse_event",
                event.id,
                subject_number,
                event.version,
                [*head, Cell(causality(event)), Cell(seriousness(event))],
                causality_block(event),
            )
        )
        if event.dlt_candidate or event.dlt_decision is not None:
            decision = None if event.dlt_decision is None else DltDecision(event.dlt_decision)
            cells = [*head, Cell(event.dlt_reasons or "—"), Cell(DECISION_WORDS[decision])]
            dlt_section.items.append(
                Item(dlt_section.meaning, "adverse_event", event.id, subject_number, event.version, cells)
            )
    for section in (causality_section, dlt_section):
        section.truncated = len(rows) > SECTION_LIMIT
    return [s for s in (causality_section, dlt_section) if s.meaning in meanings]


def response_section(session: Session, subject_ids: sa.Select[tuple[int]]) -> Section:
    meaning = SignatureMeaning.RESPONSE_CONFIRMED
    section = _section(meaning, ["Assessed on", "ELN 2022 (derived)", "Investigator"])
    rows = session.execute(
        sa.select(
            ResponseAssessment.id,
            ResponseAssessment.version,
            ResponseAssessment.assessed_on,
            ResponseAssessment.eln_category,
            ResponseAssessment.investigator_category,
            ResponseAssessment.investigator_reason,
            Subject.subject_number,
        )
        .join(Subject, Subject.id == ResponseAssessment.subject_id)
        .where(ResponseAssessment.subject_id.in_(subject_ids), ResponseAssessment.removed_at.is_(None))
        .order_by(Subject.subject_number, ResponseAssessment.assessed_on, ResponseAssessment.id)
        .limit(SECTION_LIMIT + 1)
    ).all()
    for record_id, version, assessed_on, eln, investigator, reason, subject_number in rows[:SECTION_LIMIT]:
        differs = eln is not None and investigator is not None and eln != investigator
        mine = number(investigator) + (f" (differs: {reason})" if differs and reason else "")
        cells = [
            Cell(day(assessed_on), record_url("response_assessment", record_id)),
            Cell(number(eln)),
            Cell(mine, emphasis="text-danger" if differs else None),
        ]
        blocked = "no response category to confirm yet" if eln is None and investigator is None else None
        section.items.append(Item(meaning, "response_assessment", record_id, subject_number, version, cells, blocked))
    section.truncated = len(rows) > SECTION_LIMIT
    return section


def casebook_section(session: Session, subject_ids: sa.Select[tuple[int]]) -> Section:
    meaning = SignatureMeaning.CASEBOOK_REVIEWED
    section = _section(meaning, ["Subject status"])
    rows = session.execute(
        sa.select(Subject.id, Subject.version, Subject.subject_number, Subject.status)
        .where(Subject.id.in_(subject_ids))
        .order_by(Subject.subject_number)
        .limit(SECTION_LIMIT + 1)
    ).all()
    for record_id, version, subject_number, status in rows[:SECTION_LIMIT]:
        section.items.append(Item(meaning, "subject", record_id, subject_number, version, [Cell(code_words(status))]))
    section.truncated = len(rows) > SECTION_LIMIT
    return section


def _section(meaning: SignatureMeaning, headers: list[str]) -> Section:
    return Section(meaning, MEANING_TITLES[meaning], MEANING_STATEMENTS[meaning], headers)


def read_signatures(
    session: Session, subject_ids: sa.Select[tuple[int]], meanings: Collection[SignatureMeaning]
) -> dict[tuple[SignatureMeaning, str, int], Signature]:
    """The newest signature of each meaning on each record (the older ones are history: the signing page lists them)."""
    newest: dict[tuple[SignatureMeaning, str, int], Signature] = {}
    query = (
        sa.select(Signature)
        .where(Signature.subject_id.in_(subject_ids), Signature.meaning.in_(sorted(meanings)))
        .order_by(Signature.id)
    )
    for signature in session.scalars(query):
        newest[(SignatureMeaning(signature.meaning), signature.table_name, signature.record_id)] = signature
    return newest


def unrecorded_reason(signature: Signature, version: int) -> str:
    if version != signature.record_version:
        return (
            f"the signed content changed after signing (signed {words(signature.table_name).lower()} version "
            f"{signature.record_version}, now version {version})"
        )
    covered = "the eligibility criteria" if signature.table_name == "screening" else "other records it covers"
    return f"the signed content changed after signing ({covered} changed since)"


NewestSignatures = Mapping[tuple[SignatureMeaning, str, int], Signature]


def judge(session: Session, items: Sequence[Item], newest: NewestSignatures) -> None:
    """Set each item's state from its newest signature: recorded invalidation, a moved version, or the hash."""
    to_hash: list[Item] = []
    for item in items:
        signature = newest.get((item.meaning, item.table_name, item.record_id))
        item.signature = signature
        if signature is None:
            item.state = ItemState.NEEDS_SIGNING
        elif signature.invalidated_at is not None:
            item.state, item.invalid_reason = ItemState.INVALIDATED, signature.invalidated_reason
        elif signature.record_version != item.version:  # the version is part of the signed content
            item.state, item.invalid_unrecorded = ItemState.INVALIDATED, True
            item.invalid_reason = unrecorded_reason(signature, item.version)
        else:
            to_hash.append(item)
    states = signatures.signature_states(session, [item.signature for item in to_hash if item.signature])
    for item in to_hash:
        assert item.signature is not None
        if states[item.signature.id] is SignatureState.VALID:
            item.state = ItemState.SIGNED
        else:
            item.state, item.invalid_unrecorded = ItemState.INVALIDATED, True
            item.invalid_reason = unrecorded_reason(item.signature, item.version)


def read_worklist(session: Session, filters: Filters) -> list[Section]:
    meanings = [filters.meaning] if filters.meaning else list(MEANING_TITLES)
    subject_ids = subject_ids_query(filters)
    sections: list[Section] = []
    if SignatureMeaning.ELIGIBILITY_CONFIRMED in meanings:
        sections.append(eligibility_section(session, subject_ids))
    if {SignatureMeaning.AE_CAUSALITY_ASSESSED, SignatureMeaning.DLT_CONFIRMED} & set(meanings):
        sections.extend(adverse_event_sections(session, subject_ids, meanings))
    if SignatureMeaning.RESPONSE_CONFIRMED in meanings:
        sections.append(response_section(session, subject_ids))
    if SignatureMeaning.CASEBOOK_REVIEWED in meanings:
        sections.append(casebook_section(session, subject_ids))
    items = [item for section in sections for item in section.items]
    judge(session, items, read_signatures(session, subject_ids, meanings))
    if filters.state is not None:
        for section in sections:
            section.items = [item for item in section.items if item.state is filters.state]
    return sections


def parse_filters(args: Mapping[str, str], subject_numbers: Collection[str]) -> Filters:
    """The filters asked for; a value outside its list is dropped with a message, never an error page."""
    subject = args.get("subject") or None
    if subject is not None and subject not in subject_numbers:
        flash("There is no such subject; showing every subject.", "warning")
        subject = None
    meaning: SignatureMeaning | None = None
    if args.get("meaning"):
        try:
            meaning = SignatureMeaning(args["meaning"])
        except ValueError:
            flash("There is no such signature meaning; showing every meaning.", "warning")
    state: ItemState | None = None
    if args.get("state"):
        try:
            state = ItemState(args["state"])
        except ValueError:
            flash("There is no such state; showing every state.", "warning")
    return Filters(subject, meaning, state)


# --- what will be signed -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    caption: str
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]


@dataclass
class Summary:
    """A readable account of the content a signature will cover."""

    heading: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    meaning: SignatureMeaning
    table_name: str
    record_id: int
    subject_id: int
    subject_number: str
    back: str | None

    def url(self) -> str:
        return url_for(".sign", meaning=self.meaning.value, table=self.table_name, id=self.record_id, back=self.back)


def screening_summary(session: Session, screening: Screening, subject_number: str) -> tuple[Summary, str | None]:
    criteria = read_criteria(session, sa.select(Screening.id).where(Screening.id == screening.id))[screening.id]
    summary = Summary(f"Subject {subject_number} · screening of {day(screening.screening_date)}")
    summary.facts += [
        ("Screening date", day(screening.screening_date)),
        ("Planned first treatment", day(screening.reference_date)),
        ("CNS status", NOT_ENTERED if screening.cns_status is None else str(screening.cns_status).upper()),
        ("CNS leukaemia", yes_no(screening.cns_leukemia)),
        ("Congenital syndrome", code_words(screening.congenital_syndrome)),
        ("Active systemic infection", _with(yes_no(screening.active_systemic_infection), screening.infection_details)),
        ("Another trial drug", _with(yes_no(screening.prior_trial_drug), screening.prior_trial_drug_last_date)),
        ("Significant disease within 28 days", yes_no(screening.significant_disease_within_28_days)),
        ("Major surgery", _with(yes_no(screening.major_surgery), screening.major_surgery_date)),
        ("Major surgery expected during the trial", yes_no(screening.major_surgery_expected)),
        ("Live vaccine", _with(yes_no(screening.live_vaccine), screening.live_vaccine_date)),
        ("Live vaccine planned within 6 months", yes_no(screening.live_vaccine_planned_within_6_months)),
        (
            "Investigator excludes for another reason",
            _with(yes_no(screening.investigator_excludes), screening.investigator_exclusion_reason),
        ),
        ("Derived verdict", VERDICT_WORDS[screening.eligible_derived]),
        ("Rule", screening.eligibility_rule or "—"),
    ]
    summary.tables.append(
        Table(
            "Eligibility criteria",
            ("Criterion", "Derived status", "Evidence", "Investigator status", "Investigator's reason"),
            [
                (
                    c.code,
                    code_words(c.derived),
                    c.evidence,
                    code_words(c.investigator) if c.investigator else "—",
                    c.reason or "—",
                )
                for c in criteria
            ],
        )
    )
    return summary, eligibility_block(criteria)


def _with(answer: str, detail: Any) -> str:
    """An answer with its detail (a date, a description) when there is one."""
    if detail is None or detail == "":
        return answer
    return f"{answer} ({day(detail) if isinstance(detail, dt.date) else detail})"


def adverse_event_summary(session: Session, event: AdverseEvent, subject_number: str) -> Summary:
    term = session.get_one(CtcaeTerm, event.ctcae_term_id)
    summary = Summary(f"Subject {subject_number} · adverse event {event.ae_number}")
    summary.facts += [
        ("CTCAE term", term_text(term.term, event.verbatim)),
        ("Onset", day(event.onset_date)),
        ("End", "ongoing" if event.ongoing else day(event.end_date)),
        ("Grade (investigator)", str(event.grade)),
        ("Grade (derived)", number(event.derived_grade)),
        ("Reason the grades differ", event.grade_difference_reason or "—"),
        ("Serious", seriousness(event)),
        ("Related to JK500", code_words(event.related_jk500)),
        ("Related to IL-2", code_words(event.related_il2)),
        ("Related to lymphodepletion", code_words(event.related_lymphodepletion)),
        ("Attributed to disease, other illness or medication", yes_no(event.attributed_elsewhere)),
        ("Expectedness", code_words(event.expectedness)),
        ("Action taken", code_words(event.action_taken)),
        ("Outcome", code_words(event.outcome)),
        ("DLT candidate (derived)", yes_no(event.dlt_candidate)),
        ("Why (derived)", event.dlt_reasons or "—"),
        ("DLT decision", DECISION_WORDS[None if event.dlt_decision is None else DltDecision(event.dlt_decision)]),
    ]
    return summary


def response_summary(response: ResponseAssessment, subject_number: str) -> Summary:
    summary = Summary(f"Subject {subject_number} · response assessment of {day(response.assessed_on)}")
    summary.facts += [
        ("Assessed on", day(response.assessed_on)),
        ("Marrow blasts", _percent(response.bm_blast_pct)),
        ("Marrow blasts before treatment", _percent(response.baseline_bm_blast_pct)),
        ("Marrow adequate", yes_no(response.marrow_adequate)),
        ("Circulating blasts", yes_no(response.circulating_blasts)),
        ("Extramedullary disease", yes_no(response.extramedullary)),
        ("ANC (×10⁹/L)", number(response.anc)),
        ("Platelets (×10⁹/L)", number(response.plt)),
        ("MRD", f"{_percent(response.mrd_pct)} ({code_words(response.mrd_method)})" if response.mrd_pct else "—"),
        ("ELN 2022 category (derived)", number(response.eln_category)),
        ("Why (derived)", response.eln_reasons or "—"),
        ("Investigator's category", number(response.investigator_category)),
        ("Investigator's reason", response.investigator_reason or "—"),
    ]
    return summary


def _percent(value: Any) -> str:
    return NOT_ENTERED if value is None else f"{value} %"


def casebook_summary(session: Session, subject: Subject) -> Summary:
    """The casebook is every clinical record of the subject: say how many of each the signature covers."""
    content = signatures.signed_content(session, "subject", subject.id)
    summary = Summary(f"Subject {subject.subject_number} · complete casebook")
    summary.facts += [("Subject status", code_words(subject.status)), ("Enrolled on", day(subject.enrolled_on))]
    counts = sorted((words(name), len(rows)) for name, rows in content["related"].items() if rows)
    summary.tables.append(
        Table("Records covered by the signature", ("Form", "Records"), [(name, str(n)) for name, n in counts])
    )
    open_queries = session.scalar(
        sa.select(sa.func.count()).where(Query.subject_id == subject.id, Query.status != QueryStatus.CLOSED)
    )
    if open_queries:
        summary.notes.append(f"This casebook has {open_queries} query(ies) not yet closed.")
    return summary


# --- the page ----------------------------------------------------------------------------------------------


class SignoffPage(SecurePage):
    # Investigators sign; monitors, admins and data managers read the worklist (nothing there is hidden from
    # them elsewhere). Statisticians never see it: it is identified, subject by subject.
    roles = frozenset({RoleCode.INVESTIGATOR, RoleCode.MONITOR, RoleCode.ADMIN, RoleCode.DATA_MANAGER})
    title = "Sign-off"
    endpoint_name = "signoff"
    order = 38

    @expose("/")
    def index(self) -> str:
        session = db.session()
        subject_numbers = list(
            session.scalars(
                sa.select(Subject.subject_number).where(Subject.removed_at.is_(None)).order_by(Subject.subject_number)
            )
        )
        filters = parse_filters(request.args, subject_numbers)
        sections = read_worklist(session, filters)
        return self.render(
            "jk500/signoff.html",
            sections=sections,
            filters=filters,
            subject_numbers=subject_numbers,
            meanings=[(m.value, MEANING_TITLES[m]) for m in MEANING_TITLES],
            states=[(s.value, STATE_WORDS[s].capitalize()) for s in ItemState],
            states_enum=ItemState,
            can_sign=current_user.role is RoleCode.INVESTIGATOR,
            back=url_for(".index", **filters.args()),
            casebook_url=casebook_url,
            instant=instant,
            section_limit=SECTION_LIMIT,
        )

    # -- signing ---------------------------------------------------------------------------------------------

    @expose("/sign", methods=["GET", "POST"])
    def sign(self) -> ResponseReturnValue:
        investigator = current_user.role is RoleCode.INVESTIGATOR
        if request.method == "GET" and not investigator:
            return self.inaccessible_callback("sign")
        target = self._target()
        if target is None:
            flash("That record does not exist or cannot be signed with that meaning; pick it from the list.", "error")
            return redirect(url_for(".index"))
        if request.method == "GET":
            return self._confirm(target)
        if not investigator:
            self._record_refused_role(target)
            return self.inaccessible_callback("sign")
        return self._sign(target)

    def _target(self) -> Target | None:
        """The record named by the query string, if it exists, is live and takes that meaning."""
        try:
            meaning = SignatureMeaning(request.args.get("meaning", ""))
        except ValueError:
            return None
        table_name = request.args.get("table", "")
        record_id = request.args.get("id", type=int)
        if table_name not in MEANING_TABLES[meaning] or record_id is None:
            return None
        table = Base.metadata.tables[table_name]
        query = sa.select(Subject.id, Subject.subject_number).where(Subject.removed_at.is_(None))
        if table_name != "subject":
            query = query.join(table, table.c.subject_id == Subject.id)
        query = query.where(table.c.id == record_id, table.c.removed_at.is_(None))
        if meaning is SignatureMeaning.DLT_CONFIRMED:
            query = query.where(sa.or_(table.c.dlt_candidate.is_(sa.true()), table.c.dlt_decision.is_not(None)))
        row = db.session.execute(query).first()
        if row is None:
            return None
        return Target(meaning, table_name, record_id, row[0], row[1], safe_next(request.args.get("back")))

    def _summary(self, target: Target) -> tuple[Summary, str | None, int]:
        """What will be signed, why it cannot be yet (or None), and the record's version."""
        session = db.session()
        if target.table_name == "screening":
            screening = session.get_one(Screening, target.record_id)
            summary, blocked = screening_summary(session, screening, target.subject_number)
            return summary, blocked, screening.version
        if target.table_name == "adverse_event":
            event = session.get_one(AdverseEvent, target.record_id)
            blocked = causality_block(event) if target.meaning is SignatureMeaning.AE_CAUSALITY_ASSESSED else None
            return adverse_event_summary(session, event, target.subject_number), blocked, event.version
        if target.table_name == "response_assessment":
            response = session.get_one(ResponseAssessment, target.record_id)
            none = response.eln_category is None and response.investigator_category is None
            blocked = "no response category to confirm yet" if none else None
            return response_summary(response, target.subject_number), blocked, response.version
        subject = session.get_one(Subject, target.record_id)
        return casebook_summary(session, subject), None, subject.version

    def _history(
        self, target: Target, *, meaning: SignatureMeaning | None = None
    ) -> list[tuple[Signature, SignatureState]]:
        """The record's signatures of one meaning (the target's by default), oldest first, and whether each stands."""
        every = signatures.record_signatures(db.session(), target.table_name, target.record_id)
        wanted = meaning or target.meaning
        return [(signature, state) for signature, state in every if signature.meaning == wanted]

    @staticmethod
    def _standing(history: Sequence[tuple[Signature, SignatureState]]) -> Signature | None:
        return history[-1][0] if history and history[-1][1] is SignatureState.VALID else None

    def _confirm(self, target: Target, error: str | None = None) -> str:
        session = db.session()
        summary, blocked, version = self._summary(target)
        history = self._history(target)
        standing = self._standing(history)
        causality = SignatureMeaning.AE_CAUSALITY_ASSESSED
        if target.meaning is SignatureMeaning.DLT_CONFIRMED and self._standing(
            self._history(target, meaning=causality)
        ):
            summary.notes.append(
                "Recording the decision changes the adverse event record: a causality signature on this event "
                "will need signing again."
            )
        return self.render(
            "jk500/signoff_sign.html",
            target=target,
            summary=summary,
            blocked=blocked,
            standing=standing,
            history=history,
            statement=MEANING_STATEMENTS[target.meaning],
            meaning_title=MEANING_TITLES[target.meaning],
            seen=signatures.content_sha256(session, target.table_name, target.record_id),
            version=version,
            decisions=[(d.value, DECISION_WORDS[d]) for d in DltDecision],
            form=request.form if request.method == "POST" else {},
            error=error,
            now=utcnow(),
            instant=instant,
            back=target.back or url_for(".index"),
        )

    def _credentials(self) -> tuple[str, str]:
        return request.form.get("username", ""), request.form.get("password", "")

    def _call_sign(self, session: Session, signer: User, target: Target, now: dt.datetime) -> Signature:
        username, password = self._credentials()
        config = current_app.config
        return signatures.sign(
            session,
            signer=signer,
            password=password,
            username=username,
            meaning=target.meaning,
            table_name=target.table_name,
            record_id=target.record_id,
            now=now,
            max_failures=int(config["JK500DB_MAX_FAILED_LOGINS"]),
            lockout_minutes=int(config["JK500DB_LOCKOUT_MINUTES"]),
        )

    def _record_refused_role(self, target: Target) -> None:
        """A signing POST from another role: the service refuses it and logs the attempt (ES-05, ES-09)."""
        session = db.session()
        try:
            self._call_sign(session, session.get_one(User, current_user.id), target, utcnow())
        except SigningRefused:
            session.commit()
            return
        session.rollback()  # only if the service let another role sign: this page still does not

    def _record_decision(self, session: Session, signer: User, target: Target, now: dt.datetime) -> None:
        try:
            decision = DltDecision(request.form.get("decision", ""))
        except ValueError:
            raise ValidationError("decision", "choose whether this event is a DLT") from None
        seen_version = request.form.get("seen_version", type=int)
        if seen_version is None:
            raise ValidationError("seen_version", "the form is incomplete; reload the page")
        event = session.get_one(AdverseEvent, target.record_id)
        changes = {"dlt_decision": decision, "dlt_decided_by_id": signer.id, "dlt_decided_at": now}
        update_record(session, event, changes, seen_version=seen_version, reason=request.form.get("reason", ""))

    def _sign(self, target: Target) -> ResponseReturnValue:
        session = db.session()
        signer = session.get_one(User, current_user.id)
        now = utcnow()
        dlt = target.meaning is SignatureMeaning.DLT_CONFIRMED
        standing = None if dlt else self._standing(self._history(target))
        if standing is not None:  # a DLT decision may change; anything else would be the same signature again
            flash(f"Already signed by {standing.printed_name} at {instant(standing.signed_at)}.", "info")
            return redirect(target.back or url_for(".index"))
        blocked = None if dlt else self._summary(target)[1]
        if blocked is not None:
            return self._confirm(target, error=f"Not signed: this cannot be signed yet: {blocked}.")
        try:
            if dlt:  # the event's content is its row and version: the version check covers what was seen
                self._record_decision(session, signer, target, now)
            signature = self._call_sign(session, signer, target, now)
            # The hash the signature stores against the one of the page the investigator read: no window in
            # which a change committed by someone else could slip in unseen.
            if not dlt and signature.content_sha256 != request.form.get("seen"):
                raise ContentChanged(
                    "the record changed after you opened this page; review what is shown now and sign again"
                )
            self._record_invalidations(session, target.subject_id, now)
            session.commit()
        except SigningRefused as refusal:
            if dlt:
                refusal = self._refuse_without_decision(session, signer, target, now) or refusal
            else:
                session.commit()  # the refusal is in the security log and counts toward lockout
            return self._confirm(target, error=self._refusal_text(refusal, signer, now))
        except Jk500Error as error:
            session.rollback()
            return self._confirm(target, error=f"Not saved: {error}")
        flash(
            f"Signed ({MEANING_TITLES[target.meaning].lower()}): subject {target.subject_number}, as "
            f"{signature.printed_name} at {instant(signature.signed_at)}.",
            "info",
        )
        return redirect(target.back or url_for(".index"))

    def _refuse_without_decision(
        self, session: Session, signer: User, target: Target, now: dt.datetime
    ) -> SigningRefused | None:
        """A refused DLT signature must not keep the decision, but the refusal must stay in the security log.

        The service flushes both in one transaction; roll it back and ask the service again on the record as
        it was: the same credentials are refused the same way, and that refusal is committed alone.
        """
        session.rollback()
        try:
            self._call_sign(session, signer, target, now)
        except SigningRefused as again:
            session.commit()
            return again
        session.rollback()  # accepted on a second look: keep nothing unconfirmed, the user tries again
        return None

    def _refusal_text(self, refusal: SigningRefused, signer: User, now: dt.datetime) -> str:
        text = f"Not signed: {refusal}."
        if signer.locked_until is not None and signer.locked_until > now and refusal.field == "password":
            text += (
                f" Your account is locked until {instant(signer.locked_until)} after too many wrong passwords: "
                "you cannot sign or log in again until then."
            )
        return text

    def _record_invalidations(self, session: Session, subject_id: int, now: dt.datetime) -> None:
        """Mark, once, each of the subject's signatures this or an earlier change invalidated (POST only)."""
        standing = session.scalars(
            sa.select(Signature)
            .where(Signature.subject_id == subject_id, Signature.invalidated_at.is_(None))
            .order_by(Signature.id)
        ).all()
        for signature in standing:
            signatures.mark_invalidated(session, signature, now=now)


PAGE = SignoffPage
