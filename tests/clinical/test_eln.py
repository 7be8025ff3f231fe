"""ELN 2022 response, relapse and ORR (jk500db.clinical.eln)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jk500db.clinical import eln
from jk500db.clinical.numbers import ClinicalInputError
from jk500db.clinical.settings import RuleSettings

# Döhner et al., Blood 2022;140:1345, Table "Response criteria in AML":
#   CR   blasts < 5 %, no circulating blasts, no EMD, ANC >= 1.0, PLT >= 100
#   CRh  ANC >= 0.5 and PLT >= 50, otherwise all CR criteria
#   CRi  all CR criteria except residual neutropenia < 1.0 or thrombocytopenia < 100 (one lineage recovered)
#   MLFS blasts < 5 %, no circulating blasts, no EMD, no recovery required; marrow not merely aplastic
#   PR   all haematological criteria of CR; blasts 5-25 % and >= 50 % decrease from pre-treatment
#   NR   evaluable, none of the above;  NE  no adequate marrow evaluation
# Columns: blasts %, ANC, PLT, circulating blasts, EMD, marrow adequate, baseline blasts %, expected.
CLASSIFY_TABLE = [
    # CR and its boundaries
    ("0", "1.0", "100", False, False, True, None, "CR"),
    ("4.9", "3.2", "250", False, False, True, None, "CR"),
    ("5", "1.0", "100", False, False, True, None, "NE"),  # 5 % is not leukaemia-free; PR needs baseline
    ("5", "1.0", "100", False, False, True, "10", "PR"),
    ("5", "0.5", "50", False, False, True, "10", "NR"),  # 5 % with CRh-level counts: neither CRh nor PR
    ("2", "1.0", "100", True, False, True, None, "NR"),  # circulating blasts: not leukaemia-free
    ("2", "1.0", "100", False, True, True, None, "NR"),  # extramedullary disease: not leukaemia-free
    # CRh: ANC >= 0.5 and PLT >= 50, not CR
    ("1", "0.5", "50", False, False, True, None, "CRh"),
    ("1", "0.99", "99", False, False, True, None, "CRh"),
    ("1", "1.0", "50", False, False, True, None, "CRh"),  # one lineage recovered but CRh met: CRh first
    ("1", "0.5", "100", False, False, True, None, "CRh"),
    # CRi: one lineage recovered, not CRh
    ("1", "1.0", "49", False, False, True, None, "CRi"),
    ("1", "0.49", "100", False, False, True, None, "CRi"),
    ("1", "0.2", "150", False, False, True, None, "CRi"),
    # MLFS: no lineage recovered, adequate marrow
    ("1", "0.49", "49", False, False, True, None, "MLFS"),
    ("1", "0.99", "49", False, False, True, None, "MLFS"),
    ("1", "0.49", "99", False, False, True, None, "MLFS"),
    ("1", "0.1", "10", False, False, False, None, "NE"),  # aplastic / inadequate marrow
    ("1", "1.0", "100", False, False, False, None, "NE"),  # inadequate marrow is NE whatever it shows
    # PR: 5-25 % blasts, <= 50 % of baseline, CR counts, no circulating blasts, no EMD
    ("25", "1.0", "100", False, False, True, "50", "PR"),  # both edges: 25 % and exactly 50 % of baseline
    ("25", "1.0", "100", False, False, True, "49.9", "NR"),  # 25 > 50 % of 49.9
    ("25.1", "1.0", "100", False, False, True, "80", "NR"),
    ("4.9", "1.0", "99", False, True, True, "80", "NR"),
    ("10", "0.99", "100", False, False, True, "80", "NR"),  # ANC below CR
    ("10", "1.0", "99", False, False, True, "80", "NR"),  # PLT below CR
    ("10", "1.0", "100", True, False, True, "80", "NR"),
    ("10", "1.0", "100", False, True, True, "80", "NR"),
    ("10", "1.0", "100", False, False, True, "20", "PR"),
    ("10", "1.0", "100", False, False, True, "19.99", "NR"),
    ("60", "2", "200", False, False, True, "80", "NR"),
    ("10", "1.0", "100", False, False, True, None, "NE"),  # PR cannot be judged without baseline
    ("30", "1.0", "100", False, False, True, None, "NR"),  # outside 5-25: NR whatever the baseline
    (None, "1.0", "100", False, False, True, None, "NE"),  # no marrow assessed
]


@pytest.mark.parametrize(
    ("blasts", "anc", "plt", "circulating", "emd", "adequate", "baseline", "expected"), CLASSIFY_TABLE
)
def test_classify_follows_eln_2022_table(
    blasts: str | None,
    anc: str,
    plt: str,
    circulating: bool,
    emd: bool,
    adequate: bool,
    baseline: str | None,
    expected: str,
) -> None:
    result = eln.classify(
        bm_blast_pct=blasts,
        anc=anc,
        plt=plt,
        circulating_blasts=circulating,
        extramedullary=emd,
        marrow_adequate=adequate,
        baseline_bm_blast_pct=baseline,
    )
    assert result.category == expected
    assert result.reasons
    assert result.rule_id == "eln2022.response"
    assert result.rule_version


def test_classify_accepts_float_int_and_decimal_inputs_exactly() -> None:
    assert eln.classify(bm_blast_pct=4.9, anc=1.0, plt=100).category == "CR"
    assert eln.classify(bm_blast_pct=Decimal("4.99"), anc=1, plt=Decimal("100.0")).category == "CR"


def test_classify_reason_names_the_deciding_criterion() -> None:
    result = eln.classify(bm_blast_pct="1", anc="0.6", plt="60")
    assert "ANC >= 0.5 and PLT >= 50" in result.reasons[0]
    assert result.reasons[0].endswith("CRh")


# Setting eln.cri_requires_one_lineage (CLINICAL_RULES.md): false reads CRi as "neutropenia and/or
# thrombocytopenia", so a leukaemia-free marrow with no recovered lineage is CRi rather than MLFS.
CRI_SETTING_TABLE = [
    (True, "0.49", "49", "MLFS"),
    (False, "0.49", "49", "CRi"),
    (False, "1.0", "49", "CRi"),
    (False, "0.5", "50", "CRh"),
    (False, "1.0", "100", "CR"),
]


@pytest.mark.parametrize(("requires_one", "anc", "plt", "expected"), CRI_SETTING_TABLE)
def test_cri_lineage_setting_changes_only_the_no_recovery_case(
    requires_one: bool, anc: str, plt: str, expected: str
) -> None:
    settings = RuleSettings(cri_requires_one_lineage=requires_one)
    result = eln.classify(bm_blast_pct="2", anc=anc, plt=plt, settings=settings)
    assert result.category == expected
    assert result.settings["eln.cri_requires_one_lineage"] is requires_one


# ELN 2022: CR/CRh/CRi "without MRD" when MRD is below the assay threshold (flow default 0.1 %).
MRD_TABLE = [
    ("CR", "1.0", "100", "0.09", None, True),
    ("CR", "1.0", "100", "0.1", None, False),  # at threshold is not below it
    ("CR", "1.0", "100", None, None, None),
    ("CRh", "0.5", "50", "0", None, True),
    ("CRi", "1.0", "20", "0.05", None, True),
    ("CR", "1.0", "100", "0.005", "0.01", True),  # explicit more sensitive assay threshold
    ("CR", "1.0", "100", "0.02", "0.01", False),
]


@pytest.mark.parametrize(("category", "anc", "plt", "mrd", "threshold", "expected"), MRD_TABLE)
def test_mrd_negative_only_below_threshold(
    category: str, anc: str, plt: str, mrd: str | None, threshold: str | None, expected: bool | None
) -> None:
    result = eln.classify(bm_blast_pct="1", anc=anc, plt=plt, mrd_pct=mrd, mrd_threshold_pct=threshold)
    assert result.category == category
    assert result.mrd_negative is expected


def test_mrd_threshold_comes_from_settings_when_not_given() -> None:
    settings = RuleSettings(mrd_threshold_pct=Decimal("0.01"))
    result = eln.classify(bm_blast_pct="1", anc="2", plt="200", mrd_pct="0.05", settings=settings)
    assert result.mrd_negative is False
    assert eln.classify(bm_blast_pct="1", anc="2", plt="200", mrd_pct="0.05").mrd_negative is True


@pytest.mark.parametrize(("anc", "plt", "category"), [("0.1", "10", "MLFS"), ("2", "200", "CR")])
def test_mrd_status_reported_only_for_cr_crh_cri(anc: str, plt: str, category: str) -> None:
    result = eln.classify(bm_blast_pct="1", anc=anc, plt=plt, mrd_pct="0.01")
    assert result.category == category
    assert (result.mrd_negative is None) == (category == "MLFS")
    assert result.label == ("CR MRD-negative" if category == "CR" else "MLFS")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bm_blast_pct": "-1", "anc": "1", "plt": "100"},
        {"bm_blast_pct": "101", "anc": "1", "plt": "100"},
        {"bm_blast_pct": "1", "anc": "-0.1", "plt": "100"},
        {"bm_blast_pct": "1", "anc": "1", "plt": "x"},
        {"bm_blast_pct": "1", "anc": "1", "plt": "100", "baseline_bm_blast_pct": "120"},
    ],
)
def test_classify_rejects_impossible_values(kwargs: dict[str, str]) -> None:
    with pytest.raises(ClinicalInputError):
        eln.classify(**kwargs)  # type: ignore[arg-type]


# ELN 2022 relapse after CR/CRh/CRi: marrow blasts >= 5 %, or reappearance of blasts in the blood in at
# least 2 peripheral blood samples at least one week apart, or development of extramedullary disease.
D = date(2024, 5, 1)
RELAPSE_TABLE = [
    ("CR", "5", (), False, True),
    ("CR", "4.9", (), False, False),
    ("CRh", "12", (), False, True),
    ("CRi", None, (), False, False),
    ("CR", None, (D, date(2024, 5, 8)), False, True),  # exactly 7 days apart
    ("CR", None, (D, date(2024, 5, 7)), False, False),  # 6 days apart
    ("CR", None, (date(2024, 5, 8), date(2024, 5, 3), D), False, True),  # unordered, first-to-last 7 days
    ("CR", None, (D,), False, False),  # a single sample is not enough
    ("CR", "1", (), True, True),
    ("MLFS", "40", (), True, False),  # relapse is not defined after MLFS
    ("PR", "40", (), False, False),
    ("NR", "40", (), False, False),
    ("NE", "40", (), False, False),
]


@pytest.mark.parametrize(("prior", "blasts", "dates", "new_emd", "expected"), RELAPSE_TABLE)
def test_is_relapse_follows_eln_2022(
    prior: str, blasts: str | None, dates: tuple[date, ...], new_emd: bool, expected: bool
) -> None:
    result = eln.is_relapse(
        prior_category=prior, bm_blast_pct=blasts, circulating_blast_dates=dates, new_extramedullary=new_emd
    )
    assert result.relapse is expected
    assert result.reasons
    assert result.rule_id == "eln2022.relapse"


def test_relapse_after_non_remission_says_why() -> None:
    assert "only after CR" in eln.is_relapse(prior_category="PR", bm_blast_pct="40").reasons[0]


def test_is_relapse_rejects_unknown_prior_category() -> None:
    with pytest.raises(ClinicalInputError):
        eln.is_relapse(prior_category="remission")


# Registry NCT05519384: ORR = CR + CRi + PR. CLINICAL_RULES.md: setting orr.includes_crh (default true)
# counts CRh with CRi; MLFS never counts.
ORR_TABLE = [
    ("CR", True, True),
    ("CRi", True, True),
    ("PR", True, True),
    ("CRh", True, True),
    ("CRh", False, False),
    ("CR", False, True),
    ("CRi", False, True),
    ("PR", False, True),
    ("MLFS", True, False),
    ("MLFS", False, False),
    ("NR", True, False),
    ("NE", True, False),
]


@pytest.mark.parametrize(("category", "includes_crh", "expected"), ORR_TABLE)
def test_counts_for_orr_follows_registry_and_crh_setting(category: str, includes_crh: bool, expected: bool) -> None:
    assert eln.counts_for_orr(category, RuleSettings(orr_includes_crh=includes_crh)) is expected


def test_counts_for_orr_defaults_to_including_crh() -> None:
    assert eln.counts_for_orr("CRh") is True


def test_counts_for_orr_rejects_unknown_category() -> None:
    with pytest.raises(ClinicalInputError):
        eln.counts_for_orr("VGPR")


percent = st.decimals(min_value=0, max_value=100, places=2)
count = st.decimals(min_value=0, max_value=1000, places=2)


@given(
    blasts=st.none() | percent,
    anc=count,
    plt=count,
    circulating=st.booleans(),
    emd=st.booleans(),
    adequate=st.booleans(),
    baseline=st.none() | percent,
    mrd=st.none() | percent,
    cri_requires_one=st.booleans(),
)
def test_classify_never_raises_on_valid_inputs_and_returns_allowed_category(
    blasts: Decimal | None,
    anc: Decimal,
    plt: Decimal,
    circulating: bool,
    emd: bool,
    adequate: bool,
    baseline: Decimal | None,
    mrd: Decimal | None,
    cri_requires_one: bool,
) -> None:
    result = eln.classify(
        bm_blast_pct=blasts,
        anc=anc,
        plt=plt,
        circulating_blasts=circulating,
        extramedullary=emd,
        marrow_adequate=adequate,
        baseline_bm_blast_pct=baseline,
        mrd_pct=mrd,
        settings=RuleSettings(cri_requires_one_lineage=cri_requires_one),
    )
    assert result.category in eln.CATEGORIES
    assert result.reasons
    if result.category not in {"CR", "CRh", "CRi"}:
        assert result.mrd_negative is None
