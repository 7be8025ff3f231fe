"""BSA, planned dose and deviation of each administration; cell dose of each infusion; BSA of vital signs."""

from __future__ import annotations

from jk500db.clinical import dosing
from jk500db.clinical.numbers import ClinicalInputError
from jk500db.derivations.provenance import assign, rule_label, settings_json
from jk500db.derivations.subject_data import StudyContext, SubjectData, live
from jk500db.models import DrugAdministration
from jk500db.models.vocabularies import Agent, BsaFormula, DoseBasis


def derive_administration(administration: DrugAdministration, study: StudyContext) -> None:
    item = study.regimen.get(administration.agent)
    settings = study.settings
    empty = dict(bsa_formula=None, bsa_m2=None, planned_dose=None, deviation_pct=None, deviation=None)
    if item is None:
        assign(administration, dose_per_basis=None, dose_basis=None, dose_rule=None, dose_settings=None, **empty)
        return
    assign(administration, dose_per_basis=item.dose_amount, dose_basis=DoseBasis(item.dose_basis))
    if administration.weight_kg is None:
        assign(administration, dose_rule=None, dose_settings=None, **empty)
        return
    try:
        planned = dosing.planned_dose(
            item.dose_amount,
            item.dose_basis,
            height_cm=administration.height_cm,
            weight_kg=administration.weight_kg,
            settings=settings,
        )
    except ClinicalInputError:
        # A missing height for a per-m² dose: nothing can be planned; the form shows the empty value.
        assign(administration, dose_rule=None, dose_settings=None, **empty)
        return
    used = dict(planned.settings)
    deviation_pct = deviation = None
    if administration.actual_dose is not None and planned.amount > 0 and administration.dose_unit == planned.unit:
        result = dosing.dose_deviation(planned.amount, administration.actual_dose, settings)
        deviation_pct, deviation = result.pct, result.deviation
        used.update(result.settings)
    assign(
        administration,
        bsa_formula=BsaFormula(planned.formula) if planned.formula else None,
        bsa_m2=planned.bsa_unrounded,
        planned_dose=planned.amount,
        deviation_pct=deviation_pct,
        deviation=deviation,
        dose_rule=rule_label(planned.rule_id, planned.rule_version),
        dose_settings=settings_json(used),
    )


def derive_doses(data: SubjectData, study: StudyContext) -> None:
    for administration in live(data.administrations):
        if not administration.not_given:
            derive_administration(administration, study)
    jk500 = study.regimen.get(Agent.JK500)
    planned = jk500.dose_amount if jk500 and jk500.dose_basis == DoseBasis.CELLS_PER_KG else None
    for infusion in live(data.infusions):
        per_kg = None
        if infusion.cells_infused is not None and infusion.weight_kg:
            per_kg = infusion.cells_infused / infusion.weight_kg
        assign(infusion, dose_cells_per_kg=per_kg, planned_cells_per_kg=planned)
    for vitals in live(data.vitals):
        bsa = None
        if vitals.height_cm and vitals.weight_kg:
            bsa = dosing.bsa(vitals.height_cm, vitals.weight_kg, settings=study.settings)
        assign(vitals, bsa_m2=bsa)
