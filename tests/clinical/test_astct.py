"""ASTCT 2019 consensus grading of CRS and ICANS (jk500db.clinical.astct).

Source: Lee DW et al., ASTCT Consensus Grading for Cytokine Release Syndrome and Neurologic Toxicity Associated
with Immune Effector Cells, Biol Blood Marrow Transplant 2019;25:625-638 (CRS table, ICANS table for adults,
paediatric ICANS table with ICE for age >= 12 and CAPD for age < 12), as restated in CLINICAL_RULES.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jk500db.clinical import astct
from jk500db.clinical.numbers import ClinicalInputError, Number
from jk500db.clinical.settings import RuleSettings

# ------------------------------------------------------------------------------------------------------ CRS

# Lee et al. 2019, ASTCT CRS consensus grading table:
#   Fever >= 38 °C in every grade ("fever is no longer required" after antipyretic/anticytokine therapy);
#   G1 fever only; G2 hypotension not requiring vasopressors and/or hypoxia requiring low-flow nasal cannula
#   (<= 6 L/min) or blow-by; G3 hypotension requiring a vasopressor with or without vasopressin and/or hypoxia
#   requiring high-flow nasal cannula (> 6 L/min), facemask, nonrebreather mask or Venturi mask; G4 hypotension
#   requiring multiple vasopressors (excluding vasopressin) and/or hypoxia requiring positive pressure (CPAP,
#   BiPAP, intubation and mechanical ventilation). Grade = the more severe of hypotension and hypoxia.
# Columns: max temp, hypotension, vasopressors, oxygen, flow L/min, expected.
CRS_TABLE = [
    # fever
    ("37.9", False, (), "room_air", None, 0),
    ("38.0", False, (), "room_air", None, 1),
    (None, False, (), "room_air", None, 0),
    ("37.9", True, ("norepinephrine",), "cpap", None, 0),  # no fever, no treated CRS: not CRS
    # hypotension column
    ("38.5", True, (), "room_air", None, 2),
    ("38.5", True, ("norepinephrine",), "room_air", None, 3),
    ("38.5", True, ("vasopressin",), "room_air", None, 3),  # vasopressin alone
    ("38.5", True, ("norepinephrine", "vasopressin"), "room_air", None, 3),  # one vasopressor with vasopressin
    ("38.5", True, ("norepinephrine", "phenylephrine"), "room_air", None, 4),
    ("38.5", True, ("epinephrine", "dopamine", "vasopressin"), "room_air", None, 4),
    ("38.5", True, ("norepinephrine", "norepinephrine"), "room_air", None, 3),  # same agent twice
    ("38.5", True, ("noradrenaline", "norepinephrine"), "room_air", None, 3),  # synonyms are one agent
    ("38.5", True, ("dobutamine",), "room_air", None, 2),  # inotropes are not vasopressors
    ("38.5", False, ("dobutamine", "milrinone"), "room_air", None, 1),
    ("38.5", True, ("milrinone", "dopamine"), "room_air", None, 3),
    ("38.5", False, ("dopamine",), "room_air", None, 3),  # a vasopressor implies hypotension
    # hypoxia column
    ("38.5", False, (), "blow_by", None, 2),
    ("38.5", False, (), "nasal_cannula", "1", 2),
    ("38.5", False, (), "nasal_cannula", "6", 2),
    ("38.5", False, (), "nasal_cannula", "6.01", 3),
    ("38.5", False, (), "high_flow_nasal_cannula", None, 3),
    ("38.5", False, (), "high_flow_nasal_cannula", "40", 3),
    ("38.5", False, (), "high_flow_nasal_cannula", "6", 2),  # "high flow ... defined as > 6 L/minute"
    ("38.5", False, (), "facemask", None, 3),
    ("38.5", False, (), "non_rebreather", None, 3),
    ("38.5", False, (), "venturi", None, 3),
    ("38.5", False, (), "cpap", None, 4),
    ("38.5", False, (), "bipap", None, 4),
    ("38.5", False, (), "mechanical_ventilation", None, 4),
    ("38.5", False, (), "Non-Rebreather", None, 3),  # case and '-' tolerated
    # the more severe component decides
    ("39", True, (), "facemask", None, 3),
    ("39", True, ("norepinephrine",), "cpap", None, 4),
    ("39", True, ("norepinephrine", "epinephrine"), "nasal_cannula", "2", 4),
]


@pytest.mark.parametrize(("temp", "hypotension", "pressors", "oxygen", "flow", "expected"), CRS_TABLE)
def test_crs_grade_is_the_more_severe_of_hypotension_and_hypoxia_given_fever(
    temp: str | None, hypotension: bool, pressors: Sequence[str], oxygen: str, flow: str | None, expected: int
) -> None:
    result = astct.grade_crs(
        max_temp_c=temp, hypotension=hypotension, vasopressors=pressors, oxygen=oxygen, oxygen_flow_l_min=flow
    )
    assert result.grade == expected
    assert result.term == "Cytokine release syndrome"
    assert result.rule_id == "astct2019.crs"


# Lee et al. 2019 CRS table footnote: "In patients who have CRS then receive antipyretic or anticytokine therapy
# such as tocilizumab or steroids, fever is no longer required to grade subsequent CRS severity. In this case,
# CRS grading is driven by hypotension and/or hypoxia." Columns: max temp, hypotension, oxygen, expected.
TREATED_CRS_TABLE = [
    ("37.0", True, "room_air", 2),
    (None, False, "cpap", 4),
    ("37.0", False, "room_air", 0),  # nothing left to grade
    ("39.0", False, "room_air", 1),
]


@pytest.mark.parametrize(("temp", "hypotension", "oxygen", "expected"), TREATED_CRS_TABLE)
def test_crs_after_therapy_for_established_crs_does_not_need_fever(
    temp: str | None, hypotension: bool, oxygen: str, expected: int
) -> None:
    result = astct.grade_crs(max_temp_c=temp, prior_crs_treated=True, hypotension=hypotension, oxygen=oxygen)
    assert result.grade == expected


def test_crs_attributed_to_another_cause_is_grade_0_with_reason() -> None:
    result = astct.grade_crs(max_temp_c="39", oxygen="cpap", other_cause=True)
    assert result.grade == 0
    assert "another cause" in result.reasons[0]


def test_death_due_to_crs_is_grade_5() -> None:
    assert astct.grade_crs(max_temp_c="39", vasopressors=["norepinephrine", "epinephrine"], death=True).grade == 5


def test_crs_reasons_name_the_deciding_criterion_and_inotropes_not_counted() -> None:
    result = astct.grade_crs(max_temp_c=38.2, hypotension=True, vasopressors=["dobutamine"])
    assert result.grade == 2
    assert "hypotension not requiring vasopressors" in result.reasons[0]
    assert any("dobutamine is an inotrope" in reason for reason in result.reasons)


@pytest.mark.parametrize("temp", ["38.0", 38, 38.0, Decimal("38.0")])
def test_crs_fever_threshold_is_the_same_for_every_input_type(temp: Number) -> None:
    assert astct.grade_crs(max_temp_c=temp).grade == 1


BAD_CRS_INPUT: list[tuple[dict[str, object], str]] = [
    ({"max_temp_c": "39", "oxygen": "nasal_cannula"}, "oxygen_flow_l_min"),  # flow decides 2 vs 3
    ({"max_temp_c": "39", "oxygen": "nasal_cannula", "oxygen_flow_l_min": "-1"}, "oxygen_flow_l_min"),
    ({"max_temp_c": "39", "oxygen": "room_air", "oxygen_flow_l_min": "2"}, "oxygen_flow_l_min"),
    ({"max_temp_c": "39", "oxygen": "tent"}, "oxygen"),
    ({"max_temp_c": "39", "vasopressors": ["angiotensin ii"]}, "vasopressors"),
    ({"max_temp_c": "39", "vasopressors": "norepinephrine"}, "vasopressors"),  # a string is not a list
    ({"max_temp_c": "-1"}, "max_temp_c"),
    ({"max_temp_c": "hot"}, "max_temp_c"),
    ({"max_temp_c": "39", "death": True, "other_cause": True}, "death"),
    ({"max_temp_c": "39", "hypotension": "yes"}, "hypotension"),
]


@pytest.mark.parametrize(("kwargs", "field"), BAD_CRS_INPUT)
def test_bad_crs_input_raises_naming_field_and_rule(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ClinicalInputError) as caught:
        astct.grade_crs(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert "astct2019.crs" in str(caught.value)


# ---------------------------------------------------------------------------------------------------- CAPD

# Lee et al. 2019, CAPD (Cornell Assessment of Pediatric Delirium) table: items 1-4 (eye contact, purposeful
# actions, aware of surroundings, communicates needs and wants) score never 4, rarely 3, sometimes 2, often 1,
# always 0; items 5-8 (restless, inconsolable, underactive, slow to respond) score never 0 ... always 4.
CAPD_TABLE = [
    (["always"] * 4 + ["never"] * 4, 0),
    (["never"] * 4 + ["always"] * 4, 32),
    (["never"] * 8, 16),
    (["always"] * 8, 16),
    (["often"] * 4 + ["rarely"] * 4, 8),
    (["sometimes"] * 8, 16),
    (["always", "always", "always", "often", "never", "never", "never", "rarely"], 2),
    (["Always", " often ", "ALWAYS", "always", "never", "never", "never", "never"], 1),
]


@pytest.mark.parametrize(("answers", "expected"), CAPD_TABLE)
def test_capd_total_reverse_scores_items_1_to_4(answers: list[str], expected: int) -> None:
    assert astct.capd_total(answers) == expected


@pytest.mark.parametrize(
    "answers",
    [["never"] * 7, ["never"] * 9, "never" * 8, ["never"] * 7 + ["maybe"], ["never"] * 7 + [3]],
)
def test_bad_capd_answers_raise_naming_answers_and_rule(answers: object) -> None:
    with pytest.raises(ClinicalInputError) as caught:
        astct.capd_total(answers)  # type: ignore[arg-type]
    assert caught.value.field.startswith("answers")
    assert "astct2019.capd" in str(caught.value)


@given(st.lists(st.sampled_from(astct.CAPD_ANSWERS), min_size=8, max_size=8))
def test_capd_total_is_within_0_to_32(answers: list[str]) -> None:
    assert 0 <= astct.capd_total(answers) <= 32


# --------------------------------------------------------------------------------------------------- ICANS

# Lee et al. 2019, ICANS consensus grading (adults; children >= 12 use ICE): ICE 7-9 G1, 3-6 G2, 0-2 G3,
# "0 (patient is unarousable and unable to perform ICE)" G4; footnote: "A patient with an ICE score of 0 may be
# classified as grade 3 ICANS if awake with global aphasia, but ... grade 4 ICANS if unarousable."
# Columns: age, ICE score, unable to perform, consciousness, global aphasia, expected.
ICE_TABLE = [
    (12, 10, False, "alert", False, 0),
    (12, 9, False, "alert", False, 1),
    (12, 7, False, "alert", False, 1),
    (12, 6, False, "alert", False, 2),
    (12, 3, False, "alert", False, 2),
    (12, 2, False, "alert", False, 3),
    (12, 0, False, "alert", False, 3),
    (12, 0, False, "unarousable", False, 4),
    (12, None, True, "unarousable", False, 4),
    (12, 0, True, "unarousable", False, 4),
    (12, None, True, "alert", False, 3),  # unable to perform while awake scores 0
    (12, None, False, "alert", True, 3),  # awake with global aphasia = ICE 0
    (12, 8, False, "alert", True, 1),  # aphasia already scored within the ICE
    (12, None, False, "alert", False, 0),  # ICE not recorded: other domains only
    (17, 5, False, "alert", False, 2),
]


@pytest.mark.parametrize(("age", "ice", "unable", "consciousness", "aphasia", "expected"), ICE_TABLE)
def test_icans_from_age_12_grades_the_ice_score(
    age: int, ice: int | None, unable: bool, consciousness: str, aphasia: bool, expected: int
) -> None:
    result = astct.grade_icans(
        age_years=age, ice_score=ice, unable_to_perform=unable, consciousness=consciousness, global_aphasia=aphasia
    )
    assert result.grade == expected
    assert result.term == "Immune effector cell-associated neurotoxicity syndrome"
    assert result.rule_id == "astct2019.icans"


# Lee et al. 2019, paediatric ICANS table (age < 12): CAPD 1-8 G1 (awakens spontaneously) or G2 (awakens to
# voice), CAPD >= 9 G3, unable to perform CAPD G4. Columns: age, CAPD, unable, consciousness, expected.
CAPD_ICANS_TABLE = [
    (11, 0, False, "alert", 0),
    (11, 1, False, "alert", 1),
    (11, 8, False, "alert", 1),
    (11, 8, False, "awakens_spontaneously", 1),
    (11, 1, False, "awakens_to_voice", 2),
    (11, 8, False, "awakens_to_voice", 2),
    (11, 9, False, "alert", 3),
    (11, 32, False, "alert", 3),
    (11, None, True, "alert", 4),
    (0, 4, False, "alert", 1),
]


@pytest.mark.parametrize(("age", "capd", "unable", "consciousness", "expected"), CAPD_ICANS_TABLE)
def test_icans_under_12_grades_the_capd_score(
    age: int, capd: int | None, unable: bool, consciousness: str, expected: int
) -> None:
    result = astct.grade_icans(age_years=age, capd_score=capd, unable_to_perform=unable, consciousness=consciousness)
    assert result.grade == expected


@pytest.mark.parametrize("age", [12, 12.0, "12", Decimal(12)])
def test_twelfth_birthday_switches_to_ice_for_every_input_type(age: Number) -> None:
    assert astct.grade_icans(age_years=age, ice_score=5).grade == 2


# Setting icans.capd_for_developmental_delay (CLINICAL_RULES.md: "Age < 12 (or older with developmental delay,
# setting)"). Columns: setting, ICE, CAPD, expected.
DEVELOPMENTAL_DELAY_TABLE = [
    (True, None, 9, 3),
    (True, 9, 9, 3),  # both given: CAPD is used, ICE ignored with a reason
    (False, 9, None, 1),
    (False, 9, 20, 1),  # both given: ICE is used
]


@pytest.mark.parametrize(("capd_setting", "ice", "capd", "expected"), DEVELOPMENTAL_DELAY_TABLE)
def test_developmental_delay_uses_capd_only_when_setting_is_on(
    capd_setting: bool, ice: int | None, capd: int | None, expected: int
) -> None:
    settings = RuleSettings(capd_for_developmental_delay=capd_setting)
    result = astct.grade_icans(
        age_years=14, ice_score=ice, capd_score=capd, developmental_delay=True, settings=settings
    )
    assert result.grade == expected
    assert result.settings == {"icans.capd_for_developmental_delay": capd_setting}
    if ice is not None and capd is not None:
        assert any("not used" in reason for reason in result.reasons)


# Lee et al. 2019 ICANS table, other domains: depressed level of consciousness G1 awakens spontaneously, G2 to
# voice, G3 only to tactile stimulus, G4 unarousable/stupor/coma; seizure G3 rapidly resolving (or EEG seizure
# resolving with intervention), G4 prolonged > 5 min or repetitive; motor G4 deep focal weakness; elevated
# ICP/cerebral oedema G3 focal/local oedema, G4 diffuse oedema/posturing/CN VI palsy/papilloedema/Cushing's triad.
# Columns: keyword arguments, expected.
DOMAIN_TABLE: list[tuple[dict[str, object], int]] = [
    ({}, 0),
    ({"consciousness": "awakens_spontaneously"}, 1),
    ({"consciousness": "awakens_to_voice"}, 2),
    ({"consciousness": "awakens_to_tactile"}, 3),
    ({"consciousness": "unarousable"}, 4),
    ({"seizure": "rapidly_resolving"}, 3),
    ({"seizure": "prolonged"}, 4),
    ({"motor_weakness": True}, 4),
    ({"raised_icp": "focal_edema"}, 3),
    ({"raised_icp": "diffuse_edema"}, 4),
    ({"ice_score": 8, "raised_icp": "focal_edema"}, 3),  # the most severe domain decides
    ({"ice_score": 2, "consciousness": "awakens_spontaneously"}, 3),
    ({"ice_score": 8, "seizure": "prolonged", "consciousness": "awakens_to_voice"}, 4),
]


@pytest.mark.parametrize(("kwargs", "expected"), DOMAIN_TABLE)
def test_icans_grade_is_the_most_severe_domain(kwargs: dict[str, object], expected: int) -> None:
    assert astct.grade_icans(age_years=15, **kwargs).grade == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "expected"), DOMAIN_TABLE)
def test_icans_domains_grade_alike_under_12(kwargs: dict[str, object], expected: int) -> None:
    # Under 12 the CAPD replaces the ICE: ICE 8 (G1) becomes CAPD 1 (G1), ICE 2 (G3) becomes CAPD 9 (G3).
    ice_to_capd = {8: 1, 2: 9}
    child = {name: value for name, value in kwargs.items() if name != "ice_score"}
    if "ice_score" in kwargs:
        child["capd_score"] = ice_to_capd[int(str(kwargs["ice_score"]))]
    assert astct.grade_icans(age_years=6, **child).grade == expected  # type: ignore[arg-type]


def test_icans_attributed_to_another_cause_is_grade_0_and_death_is_grade_5() -> None:
    other = astct.grade_icans(age_years=15, ice_score=2, other_cause=True)
    assert other.grade == 0
    assert "another cause" in other.reasons[0]
    assert astct.grade_icans(age_years=15, ice_score=2, death=True).grade == 5


def test_icans_reasons_name_the_deciding_domain() -> None:
    result = astct.grade_icans(age_years=13, ice_score=4, seizure="rapidly_resolving")
    assert result.grade == 3
    assert any("seizure" in reason for reason in result.reasons)


BAD_ICANS_INPUT: list[tuple[dict[str, object], str]] = [
    ({"age_years": 15, "ice_score": 11}, "ice_score"),
    ({"age_years": 15, "ice_score": -1}, "ice_score"),
    ({"age_years": 15, "ice_score": "5.5"}, "ice_score"),
    ({"age_years": 8, "capd_score": 33}, "capd_score"),
    ({"age_years": 8, "capd_score": -1}, "capd_score"),
    ({"age_years": -1}, "age_years"),
    ({"age_years": "11.5"}, "age_years"),
    ({"age_years": 15, "consciousness": "drowsy"}, "consciousness"),
    ({"age_years": 15, "seizure": "long"}, "seizure"),
    ({"age_years": 15, "raised_icp": "haemorrhage"}, "raised_icp"),
    ({"age_years": 15, "ice_score": 5, "unable_to_perform": True}, "ice_score"),
    ({"age_years": 8, "capd_score": 3, "unable_to_perform": True}, "capd_score"),
    ({"age_years": 8, "ice_score": 5}, "ice_score"),  # ICE is not used under 12
    ({"age_years": 15, "capd_score": 5}, "capd_score"),  # CAPD is not used from 12 without delay
    ({"age_years": 15, "death": True, "other_cause": True}, "death"),
    ({"age_years": 15, "motor_weakness": 1}, "motor_weakness"),
]


@pytest.mark.parametrize(("kwargs", "field"), BAD_ICANS_INPUT)
def test_bad_icans_input_raises_naming_field_and_rule(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ClinicalInputError) as caught:
        astct.grade_icans(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert "astct2019.icans" in str(caught.value)


# ------------------------------------------------------------------------------------------ properties

OXYGEN_BY_SUPPORT = ["room_air", "blow_by", "facemask", "cpap"]  # grades 0, 2, 3, 4 of the hypoxia column


@given(
    st.one_of(st.none(), st.decimals(min_value=30, max_value=43, places=1, allow_nan=False)),
    st.booleans(),
    st.booleans(),
    st.lists(st.sampled_from([*astct.VASOPRESSORS, *sorted(astct.INOTROPES)]), max_size=4),
    st.sampled_from(sorted(astct.OXYGEN_GRADES)),
    st.decimals(min_value=0, max_value=60, places=1, allow_nan=False),
    st.booleans(),
    st.booleans(),
)
def test_valid_crs_input_never_raises_and_grade_is_0_to_5(
    temp: Decimal | None,
    prior: bool,
    hypotension: bool,
    pressors: list[str],
    oxygen: str,
    flow: Decimal,
    other_cause: bool,
    death: bool,
) -> None:
    result = astct.grade_crs(
        max_temp_c=temp,
        prior_crs_treated=prior,
        hypotension=hypotension,
        vasopressors=pressors,
        oxygen=oxygen,
        oxygen_flow_l_min=None if oxygen == "room_air" else flow,
        other_cause=other_cause,
        death=death and not other_cause,
    )
    assert 0 <= result.grade <= 5
    assert result.reasons


@given(st.lists(st.sampled_from(OXYGEN_BY_SUPPORT), min_size=2, max_size=2), st.booleans())
def test_crs_grade_never_falls_as_oxygen_support_escalates(pair: list[str], hypotension: bool) -> None:
    lower, higher = sorted(pair, key=OXYGEN_BY_SUPPORT.index)
    grade_lower = astct.grade_crs(max_temp_c=39, hypotension=hypotension, oxygen=lower).grade
    assert grade_lower <= astct.grade_crs(max_temp_c=39, hypotension=hypotension, oxygen=higher).grade


@given(st.integers(min_value=12, max_value=18), st.integers(0, 10), st.integers(0, 10))
def test_icans_grade_never_rises_as_ice_score_rises(age: int, first: int, second: int) -> None:
    low, high = sorted((first, second))
    assert (
        astct.grade_icans(age_years=age, ice_score=low).grade >= astct.grade_icans(age_years=age, ice_score=high).grade
    )


@given(st.integers(min_value=0, max_value=11), st.integers(0, 32), st.integers(0, 32))
def test_icans_grade_never_falls_as_capd_score_rises(age: int, first: int, second: int) -> None:
    low, high = sorted((first, second))
    assert (
        astct.grade_icans(age_years=age, capd_score=low).grade
        <= astct.grade_icans(age_years=age, capd_score=high).grade
    )


@given(
    age=st.integers(min_value=0, max_value=25),
    score=st.one_of(st.none(), st.integers(0, 10)),
    capd=st.one_of(st.none(), st.integers(0, 32)),
    unable=st.booleans(),
    consciousness=st.sampled_from(sorted(astct.CONSCIOUSNESS_GRADES)),
    aphasia=st.booleans(),
    seizure=st.sampled_from(sorted(astct.SEIZURE_GRADES)),
    motor=st.booleans(),
    icp=st.sampled_from(sorted(astct.RAISED_ICP_GRADES)),
    delay=st.booleans(),
    capd_setting=st.booleans(),
    other_cause=st.booleans(),
)
def test_valid_icans_input_never_raises_and_grade_is_0_to_5(
    age: int,
    score: int | None,
    capd: int | None,
    unable: bool,
    consciousness: str,
    aphasia: bool,
    seizure: str,
    motor: bool,
    icp: str,
    delay: bool,
    capd_setting: bool,
    other_cause: bool,
) -> None:
    uses_capd = age < 12 or (delay and capd_setting)
    # A consistent record: only the tool used at this age is scored, and no score when unable to perform.
    ice_score = None if uses_capd or unable else score
    capd_score = None if not uses_capd or unable else capd
    result = astct.grade_icans(
        age_years=age,
        ice_score=ice_score,
        capd_score=capd_score,
        unable_to_perform=unable,
        consciousness=consciousness,
        global_aphasia=aphasia,
        seizure=seizure,
        motor_weakness=motor,
        raised_icp=icp,
        developmental_delay=delay,
        other_cause=other_cause,
        settings=RuleSettings(capd_for_developmental_delay=capd_setting),
    )
    assert 0 <= result.grade <= 5
    assert result.reasons
