"""ASTCT 2019 consensus grading of CRS and ICANS (Lee et al., Biol Blood Marrow Transplant 2019;25:625-638).

CRS follows the paper's CRS consensus grading table; ICANS follows its ICANS table for adults and its
paediatric table (ICE for age >= 12, CAPD for age < 12). CTCAE v5.0's own "Cytokine release syndrome" term
is a different scale and is not used here.

Readings this module had to choose (CLINICAL_RULES.md leaves them open):

- ``oxygen="nasal_cannula"`` needs ``oxygen_flow_l_min``: the paper splits nasal cannula at 6 L/min (grade 2
  vs 3), so a missing flow is an input error rather than a guess.
- The paper *defines* high flow as "> 6 L/minute", so a high-flow device run at a recorded flow <= 6 L/min is
  graded as low flow (grade 2); without a recorded flow the device name decides (grade 3).
- Vasopressors imply hypotension: a vasopressor grades even when ``hypotension`` is False.
- Without fever (and no earlier treated CRS) there is no CRS to grade, whatever the blood pressure or oxygen.
  After antipyretic/anticytokine therapy for established CRS, fever is not required and hypotension/hypoxia
  drive the grade; with neither (and no fever) the grade is 0.
- ICE: a patient unable to perform the ICE scores 0 (grade 3), or grade 4 when unarousable. Global aphasia is
  scored inside the ICE (naming, writing, commands), so it is not a domain of its own: with an ICE score it
  only adds a reason; without one, an awake patient with global aphasia is "ICE 0, awake with global
  aphasia" = grade 3, as in the paper's footnote to the ICANS table.
- A screening score from the tool not used at this age (ICE under 12, CAPD at 12 or over) is an error when
  the right tool's result is missing, and ignored with a reason when both are given.
- ``other_cause`` together with ``death`` (death *due to* CRS/ICANS) is contradictory and rejected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from jk500db.clinical.numbers import Number, non_negative, rule_error
from jk500db.clinical.results import GradeResult
from jk500db.clinical.settings import DEFAULT_SETTINGS, RuleSettings

RULE_VERSION = "1"
CRS_RULE_ID = "astct2019.crs"
ICANS_RULE_ID = "astct2019.icans"
CAPD_RULE_ID = "astct2019.capd"
CRS_TERM = "Cytokine release syndrome"
ICANS_TERM = "Immune effector cell-associated neurotoxicity syndrome"
SOURCE = "ASTCT 2019 (Lee et al., BBMT 2019;25:625)"

# --- CRS consensus grading table.
#: "Fever is defined as temperature >= 38 °C not attributable to any other cause."
FEVER_C = Decimal("38.0")
#: "Low-flow nasal cannula is defined as oxygen delivered at <= 6 L/minute ... High-flow nasal cannula is
#: defined as oxygen delivered at > 6 L/minute."
LOW_FLOW_MAX_L_MIN = Decimal(6)

#: Vasopressors (name or synonym -> agent). Vasopressin counts for grade 3 but not towards "multiple
#: vasopressors (excluding vasopressin)" of grade 4.
VASOPRESSORS: dict[str, str] = {
    "norepinephrine": "norepinephrine",
    "noradrenaline": "norepinephrine",
    "epinephrine": "epinephrine",
    "adrenaline": "epinephrine",
    "dopamine": "dopamine",
    "phenylephrine": "phenylephrine",
    "vasopressin": "vasopressin",
}
VASOPRESSIN = "vasopressin"
#: Inotropes raise cardiac output, not vascular tone; the table counts vasopressors only.
INOTROPES: frozenset[str] = frozenset({"dobutamine", "milrinone"})

# Hypoxia column: grade 2 "requiring low-flow nasal cannula or blow-by"; grade 3 "requiring high-flow nasal
# cannula, facemask, nonrebreather mask, or Venturi mask"; grade 4 "requiring positive pressure (eg, CPAP,
# BiPAP, intubation and mechanical ventilation)". Nasal cannula is graded by its flow (None here).
OXYGEN_GRADES: dict[str, int | None] = {
    "room_air": 0,
    "blow_by": 2,
    "nasal_cannula": None,
    "high_flow_nasal_cannula": 3,
    "facemask": 3,
    "non_rebreather": 3,
    "venturi": 3,
    "cpap": 4,
    "bipap": 4,
    "mechanical_ventilation": 4,
}

# --- ICANS consensus grading table (adults) and paediatric table.
#: "ICE ... for children age >= 12 years"; CAPD for younger children.
ICE_MIN_AGE_YEARS = 12
ICE_MAX = 10
CAPD_MAX = 32
CAPD_ITEMS = 8
#: ICE score -> grade: "7-9" G1, "3-6" G2, "0-2" G3; 10 is normal. "0 (patient is unarousable and unable to
#: perform ICE)" is G4 and needs the consciousness domain, so it is handled in the code.
ICE_GRADES: tuple[tuple[int, int, int], ...] = ((10, 10, 0), (7, 9, 1), (3, 6, 2), (0, 2, 3))
#: CAPD total -> grade: "1-8" G1 (G2 when the child awakens to voice), ">= 9" G3; 0 is normal.
CAPD_G1_MAX = 8
#: "Depressed level of consciousness": G1 "awakens spontaneously", G2 "awakens to voice", G3 "awakens only to
#: tactile stimulus", G4 "patient is unarousable or requires vigorous or repetitive tactile stimuli to arouse.
#: Stupor or coma". An alert patient has no consciousness component.
CONSCIOUSNESS_GRADES: dict[str, int] = {
    "alert": 0,
    "awakens_spontaneously": 1,
    "awakens_to_voice": 2,
    "awakens_to_tactile": 3,
    "unarousable": 4,
}
#: "Seizure": G3 "any clinical seizure focal or generalized that resolves rapidly or nonconvulsive seizures on
#: EEG that resolve with intervention", G4 "life-threatening prolonged seizure (> 5 min); or repetitive
#: clinical or electrical seizures without return to baseline in between".
SEIZURE_GRADES: dict[str, int] = {"none": 0, "rapidly_resolving": 3, "prolonged": 4}
#: "Motor findings": G4 "deep focal motor weakness such as hemiparesis or paraparesis".
MOTOR_WEAKNESS_GRADE = 4
#: "Elevated ICP/cerebral edema": G3 "focal/local edema on neuroimaging", G4 "diffuse cerebral edema on
#: neuroimaging; decerebrate or decorticate posturing; or cranial nerve VI palsy; or papilledema; or Cushing's
#: triad".
RAISED_ICP_GRADES: dict[str, int] = {"none": 0, "focal_edema": 3, "diffuse_edema": 4}

#: Cornell Assessment of Pediatric Delirium answers. Items 1-4 (eye contact, purposeful actions, awareness of
#: surroundings, communicating needs) are healthy behaviours, so they are reverse-scored; items 5-8
#: (restless, inconsolable, underactive, slow to respond) are scored directly.
CAPD_ANSWERS: tuple[str, ...] = ("never", "rarely", "sometimes", "often", "always")
CAPD_REVERSED_ITEMS = 4


# --------------------------------------------------------------------------------------------- helpers


def _word(value: object, field: str, rule: str, vocabulary: Iterable[str]) -> str:
    """A vocabulary term, tolerant of case and of '-' or ' ' for '_'."""
    allowed = tuple(vocabulary)
    if isinstance(value, str):
        key = value.strip().lower().replace("-", "_").replace(" ", "_")
        if key in allowed:
            return key
    raise rule_error(field, rule, f"{value!r} is not one of {', '.join(allowed)}")


def _flag(value: object, field: str, rule: str) -> bool:
    if not isinstance(value, bool):
        raise rule_error(field, rule, f"expected True or False, got {value!r}")
    return value


def _whole(value: Number, field: str, rule: str, maximum: int | None) -> int:
    number = non_negative(value, field, rule)
    if number != number.to_integral_value():
        raise rule_error(field, rule, f"{value!r} is not a whole number")
    if maximum is not None and number > maximum:
        raise rule_error(field, rule, f"{value!r} is outside 0-{maximum}")
    return int(number)


@dataclass(frozen=True)
class Finding:
    grade: int
    reason: str


def _result(
    findings: list[Finding], notes: list[str], normal: str, rule: str, term: str, used: dict[str, object]
) -> GradeResult:
    """Grade = the highest finding; reasons = the deciding finding(s), then notes."""
    top = max((finding.grade for finding in findings), default=0)
    if top == 0:
        return GradeResult(0, (normal, *notes), rule, RULE_VERSION, term, used)
    deciding = tuple(finding.reason for finding in findings if finding.grade == top)
    return GradeResult(top, (*deciding, *notes), rule, RULE_VERSION, term, used)


def _attribution(other_cause: bool, death: bool, rule: str, term: str, used: dict[str, object]) -> GradeResult | None:
    if other_cause and death:
        raise rule_error("death", rule, f"death due to {term} contradicts other_cause=True")
    if other_cause:
        reason = f"findings attributed to another cause: not {term}, grade 0 ({SOURCE})"
        return GradeResult(0, (reason,), rule, RULE_VERSION, term, used)
    if death:
        return GradeResult(5, (f"death due to {term}: grade 5 ({SOURCE})",), rule, RULE_VERSION, term, used)
    return None


# ------------------------------------------------------------------------------------------------ CRS


def grade_crs(
    *,
    max_temp_c: Number | None = None,
    prior_crs_treated: bool = False,
    hypotension: bool = False,
    vasopressors: Sequence[str] = (),
    oxygen: str = "room_air",
    oxygen_flow_l_min: Number | None = None,
    other_cause: bool = False,
    death: bool = False,
    settings: RuleSettings | None = None,
) -> GradeResult:
    """Grade CRS by ASTCT 2019.

    ``oxygen`` is the support given *for hypoxia*: intubation only to protect the airway, without hypoxia, is
    not grade 4 and is recorded as ``room_air`` (or the oxygen actually needed). ``prior_crs_treated`` means
    antipyretic or anticytokine therapy (e.g. tocilizumab, steroids) was given for established CRS.
    """
    rule = CRS_RULE_ID
    # ASTCT CRS grading has no protocol setting; ``settings`` is accepted so every rule is called alike.
    used: dict[str, object] = {}
    temp = None if max_temp_c is None else non_negative(max_temp_c, "max_temp_c", rule)
    for name, value in (
        ("prior_crs_treated", prior_crs_treated),
        ("hypotension", hypotension),
        ("other_cause", other_cause),
        ("death", death),
    ):
        _flag(value, name, rule)
    agents, inotropes = _vasopressor_agents(vasopressors, rule)
    hypoxia = _hypoxia_finding(oxygen, oxygen_flow_l_min, rule)

    decided = _attribution(other_cause, death, rule, CRS_TERM, used)
    if decided is not None:
        return decided

    notes = [f"{drug} is an inotrope, not a vasopressor: not counted" for drug in inotropes]
    fever = temp is not None and temp >= FEVER_C
    temp_text = "no temperature recorded" if temp is None else f"max temperature {temp} °C"
    findings: list[Finding] = []
    if fever:
        findings.append(Finding(1, f"{temp_text} >= 38.0: fever, grade 1 ({SOURCE} CRS)"))
    elif not prior_crs_treated:
        reason = f"{temp_text}, no fever >= 38.0 °C and no treated CRS: CRS not met, grade 0 ({SOURCE} CRS)"
        return GradeResult(0, (reason, *notes), rule, RULE_VERSION, CRS_TERM, used)
    else:
        notes.append(f"{temp_text}; after therapy for established CRS fever is not required ({SOURCE} CRS)")

    pressure = _hypotension_finding(hypotension, agents)
    findings += [finding for finding in (pressure, hypoxia) if finding is not None]
    normal = f"no fever, hypotension or hypoxia after therapy for established CRS: grade 0 ({SOURCE} CRS)"
    return _result(findings, notes, normal, rule, CRS_TERM, used)


def _vasopressor_agents(drugs: Sequence[str], rule: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """Distinct vasopressor agents (synonyms merged) and the inotropes named."""
    if isinstance(drugs, str) or not isinstance(drugs, Iterable):
        raise rule_error("vasopressors", rule, "expected a list of drug names")
    vocabulary = (*VASOPRESSORS, *sorted(INOTROPES))
    agents: set[str] = set()
    inotropes: list[str] = []
    for drug in drugs:
        name = _word(drug, "vasopressors", rule, vocabulary)
        if name in INOTROPES:
            inotropes.append(name)
        else:
            agents.add(VASOPRESSORS[name])
    return frozenset(agents), tuple(dict.fromkeys(inotropes))


def _hypotension_finding(hypotension: bool, agents: frozenset[str]) -> Finding | None:
    # Hypotension column: G2 "not requiring vasopressors", G3 "requiring a vasopressor with or without
    # vasopressin", G4 "requiring multiple vasopressors (excluding vasopressin)".
    others = sorted(agents - {VASOPRESSIN})
    cite = f"({SOURCE} CRS hypotension)"
    if len(others) >= 2:
        return Finding(4, f"vasopressors {', '.join(others)} (multiple, excluding vasopressin): grade 4 {cite}")
    if agents:
        if not others:
            which = "vasopressin alone"
        elif VASOPRESSIN in agents:
            which = f"{others[0]} with vasopressin"
        else:
            which = others[0]
        implied = "" if hypotension else " (a vasopressor implies hypotension)"
        return Finding(3, f"one vasopressor ({which}){implied}: grade 3 {cite}")
    if hypotension:
        return Finding(2, f"hypotension not requiring vasopressors: grade 2 {cite}")
    return None


def _hypoxia_finding(oxygen: str, flow: Number | None, rule: str) -> Finding | None:
    device = _word(oxygen, "oxygen", rule, OXYGEN_GRADES)
    litres = None if flow is None else non_negative(flow, "oxygen_flow_l_min", rule)
    cite = f"({SOURCE} CRS hypoxia)"
    if device == "room_air":
        if litres is not None and litres > 0:
            raise rule_error("oxygen_flow_l_min", rule, f"{litres} L/min of oxygen contradicts oxygen='room_air'")
        return None
    grade = OXYGEN_GRADES[device]
    if device in ("nasal_cannula", "high_flow_nasal_cannula") and litres is not None:
        low = litres <= LOW_FLOW_MAX_L_MIN
        what = "low-flow (<= 6 L/min)" if low else "high-flow (> 6 L/min)"
        return Finding(2 if low else 3, f"{device} at {litres} L/min is {what}: grade {2 if low else 3} {cite}")
    if grade is None:
        raise rule_error(
            "oxygen_flow_l_min", rule, "required for nasal_cannula (<= 6 L/min grade 2, > 6 L/min grade 3)"
        )
    return Finding(grade, f"oxygen by {device}: grade {grade} {cite}")


# ----------------------------------------------------------------------------------------------- ICANS


def capd_total(answers: Sequence[str]) -> int:
    """CAPD total 0-32 from the 8 answers in item order (never, rarely, sometimes, often, always)."""
    rule = CAPD_RULE_ID
    if isinstance(answers, str) or not isinstance(answers, Sequence):
        raise rule_error("answers", rule, "expected a sequence of 8 answers")
    if len(answers) != CAPD_ITEMS:
        raise rule_error("answers", rule, f"expected {CAPD_ITEMS} answers, got {len(answers)}")
    total = 0
    for item, answer in enumerate(answers, start=1):
        points = CAPD_ANSWERS.index(_word(answer, f"answers[{item - 1}]", rule, CAPD_ANSWERS))
        total += len(CAPD_ANSWERS) - 1 - points if item <= CAPD_REVERSED_ITEMS else points
    return total


@dataclass(frozen=True)
class _Neuro:
    """Validated ICANS inputs."""

    age: int
    ice: int | None
    capd: int | None
    unable: bool
    consciousness: str
    global_aphasia: bool
    seizure: str
    motor_weakness: bool
    raised_icp: str
    developmental_delay: bool


def grade_icans(
    *,
    age_years: Number,
    ice_score: Number | None = None,
    capd_score: Number | None = None,
    unable_to_perform: bool = False,
    consciousness: str = "alert",
    global_aphasia: bool = False,
    seizure: str = "none",
    motor_weakness: bool = False,
    raised_icp: str = "none",
    developmental_delay: bool = False,
    other_cause: bool = False,
    death: bool = False,
    settings: RuleSettings | None = None,
) -> GradeResult:
    """Grade ICANS by ASTCT 2019: the most severe domain.

    ``age_years`` is completed years at the assessment (the 12th birthday counts as 12).
    ``unable_to_perform`` refers to the screening tool used at this age (ICE or CAPD).
    """
    rule = ICANS_RULE_ID
    rules = settings or DEFAULT_SETTINGS
    used: dict[str, object] = {"icans.capd_for_developmental_delay": rules.capd_for_developmental_delay}
    neuro = _validated_neuro(
        age_years,
        ice_score,
        capd_score,
        unable_to_perform,
        consciousness,
        global_aphasia,
        seizure,
        motor_weakness,
        raised_icp,
        developmental_delay,
        rule,
    )
    _flag(other_cause, "other_cause", rule)
    _flag(death, "death", rule)
    use_capd = neuro.age < ICE_MIN_AGE_YEARS or (neuro.developmental_delay and rules.capd_for_developmental_delay)
    screening, notes = _capd_domain(neuro, rule) if use_capd else _ice_domain(neuro, rule)

    decided = _attribution(other_cause, death, rule, ICANS_TERM, used)
    if decided is not None:
        return decided
    findings = [*screening, *_other_domains(neuro)]
    tool = "CAPD" if use_capd else "ICE"
    normal = f"no ICANS domain abnormal ({tool} used at age {neuro.age}): grade 0 ({SOURCE} ICANS)"
    return _result(findings, notes, normal, rule, ICANS_TERM, used)


def _validated_neuro(
    age_years: Number,
    ice_score: Number | None,
    capd_score: Number | None,
    unable_to_perform: bool,
    consciousness: str,
    global_aphasia: bool,
    seizure: str,
    motor_weakness: bool,
    raised_icp: str,
    developmental_delay: bool,
    rule: str,
) -> _Neuro:
    return _Neuro(
        age=_whole(age_years, "age_years", rule, None),
        ice=None if ice_score is None else _whole(ice_score, "ice_score", rule, ICE_MAX),
        capd=None if capd_score is None else _whole(capd_score, "capd_score", rule, CAPD_MAX),
        unable=_flag(unable_to_perform, "unable_to_perform", rule),
        consciousness=_word(consciousness, "consciousness", rule, CONSCIOUSNESS_GRADES),
        global_aphasia=_flag(global_aphasia, "global_aphasia", rule),
        seizure=_word(seizure, "seizure", rule, SEIZURE_GRADES),
        motor_weakness=_flag(motor_weakness, "motor_weakness", rule),
        raised_icp=_word(raised_icp, "raised_icp", rule, RAISED_ICP_GRADES),
        developmental_delay=_flag(developmental_delay, "developmental_delay", rule),
    )


def _ice_domain(neuro: _Neuro, rule: str) -> tuple[list[Finding], list[str]]:
    cite = f"({SOURCE} ICANS, ICE score)"
    notes: list[str] = []
    if neuro.capd is not None:
        if neuro.ice is None and not neuro.unable:
            raise rule_error("capd_score", rule, f"age {neuro.age} is assessed with ICE, not CAPD; give ice_score")
        notes.append(f"capd_score not used: age {neuro.age} is assessed with ICE")
    unarousable = neuro.consciousness == "unarousable"
    if neuro.unable and neuro.ice not in (None, 0):
        raise rule_error("ice_score", rule, f"ICE {neuro.ice} contradicts unable_to_perform=True (scores 0)")
    if neuro.ice is None and not neuro.unable:
        if neuro.global_aphasia:
            reason = f"global aphasia while awake: ICE 0, grade 3 {cite} (footnote: awake with global aphasia)"
            return [Finding(3, reason)], notes
        return [], [*notes, "ICE not recorded: ICE domain not assessed"]
    if neuro.global_aphasia:
        notes.append("global aphasia is scored within the ICE (naming, writing, following commands)")
    score = 0 if neuro.ice is None else neuro.ice
    shown = "unable to perform ICE (scores 0)" if neuro.unable else f"ICE {score}"
    if score == 0 and unarousable:
        return [Finding(4, f"{shown} and unarousable: grade 4 {cite}")], notes
    grade = next(g for low, high, g in ICE_GRADES if low <= score <= high)
    return ([Finding(grade, f"{shown}: grade {grade} {cite}")] if grade else []), notes


def _capd_domain(neuro: _Neuro, rule: str) -> tuple[list[Finding], list[str]]:
    why = (
        f"age {neuro.age}"
        if neuro.age < ICE_MIN_AGE_YEARS
        else "developmental delay (icans.capd_for_developmental_delay)"
    )
    cite = f"({SOURCE} paediatric ICANS, CAPD)"
    notes: list[str] = []
    if neuro.ice is not None:
        if neuro.capd is None and not neuro.unable:
            raise rule_error("ice_score", rule, f"{why}: assessed with CAPD, not ICE; give capd_score")
        notes.append(f"ice_score not used: {why} is assessed with CAPD")
    if neuro.unable:
        if neuro.capd is not None:
            raise rule_error("capd_score", rule, "a CAPD score contradicts unable_to_perform=True")
        return [Finding(4, f"{why}: unable to perform CAPD: grade 4 {cite}")], notes
    if neuro.global_aphasia:
        notes.append("global aphasia is observed within the CAPD (communication items)")
    if neuro.capd is None:
        return [], [*notes, "CAPD not recorded: CAPD domain not assessed"]
    if neuro.capd == 0:
        return [], notes
    if neuro.capd > CAPD_G1_MAX:
        return [Finding(3, f"{why}: CAPD {neuro.capd} >= 9: grade 3 {cite}")], notes
    if neuro.consciousness == "awakens_to_voice":
        return [Finding(2, f"{why}: CAPD {neuro.capd} (1-8) and awakens to voice: grade 2 {cite}")], notes
    return [Finding(1, f"{why}: CAPD {neuro.capd} (1-8): grade 1 {cite}")], notes


def _other_domains(neuro: _Neuro) -> list[Finding]:
    domains = (
        (CONSCIOUSNESS_GRADES[neuro.consciousness], f"depressed level of consciousness: {neuro.consciousness}"),
        (SEIZURE_GRADES[neuro.seizure], f"seizure: {neuro.seizure}"),
        (MOTOR_WEAKNESS_GRADE if neuro.motor_weakness else 0, "deep focal motor weakness"),
        (RAISED_ICP_GRADES[neuro.raised_icp], f"elevated ICP/cerebral edema: {neuro.raised_icp}"),
    )
    return [Finding(grade, f"{text}: grade {grade} ({SOURCE} ICANS)") for grade, text in domains if grade]
