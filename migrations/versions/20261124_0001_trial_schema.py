"""trial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 15:54:20.951518+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import jk500db.models.types
revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('occurred_at', sa.String(length=32), nullable=False),
    sa.Column('transaction_id', sa.String(length=40), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('actor_name', sa.String(length=120), nullable=False),
    sa.Column('source', sa.String(length=6), nullable=False),
    sa.Column('table_name', sa.String(length=60), nullable=False),
    sa.Column('row_key', sa.String(length=60), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('field_name', sa.String(length=60), nullable=True),
    sa.Column('action', sa.String(length=6), nullable=False),
    sa.Column('old_value', sa.Text(), nullable=True),
    sa.Column('new_value', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=True),
    sa.Column('row_hash', sa.String(length=64), nullable=True),
    sa.CheckConstraint("action IN ('insert', 'update', 'delete')", name=op.f('ck_audit_event_action')),
    sa.CheckConstraint("source IN ('ui', 'cli', 'import', 'system')", name=op.f('ck_audit_event_source')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_record', ['table_name', 'row_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_subject_id'), ['subject_id'], unique=False)

    op.create_table('ctcae_term',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ctcae_version', sa.String(length=10), nullable=False),
    sa.Column('meddra_code', sa.String(length=10), nullable=False),
    sa.Column('soc', sa.String(length=120), nullable=False),
    sa.Column('term', sa.String(length=200), nullable=False),
    sa.Column('grade_1', sa.Text(), nullable=True),
    sa.Column('grade_2', sa.Text(), nullable=True),
    sa.Column('grade_3', sa.Text(), nullable=True),
    sa.Column('grade_4', sa.Text(), nullable=True),
    sa.Column('grade_5', sa.Text(), nullable=True),
    sa.Column('definition', sa.Text(), nullable=True),
    sa.Column('navigational_note', sa.Text(), nullable=True),
    sa.Column('other_specify', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ctcae_term')),
    sa.UniqueConstraint('ctcae_version', 'meddra_code', name=op.f('uq_ctcae_term_ctcae_version_meddra_code')),
    sa.UniqueConstraint('ctcae_version', 'term', name=op.f('uq_ctcae_term_ctcae_version_term'))
    )
    op.create_table('role',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.CheckConstraint("code IN ('data_manager', 'monitor', 'investigator', 'statistician', 'admin')", name=op.f('ck_role_code')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_role'))
    )
    op.create_table('study',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('registry_id', sa.String(length=20), nullable=True),
    sa.Column('sponsor', sa.String(), nullable=False),
    sa.Column('phase', sa.String(length=40), nullable=False),
    sa.Column('planned_enrolment', sa.Integer(), nullable=False),
    sa.CheckConstraint('planned_enrolment IS NULL OR CAST(planned_enrolment AS NUMERIC) > 0', name=op.f('ck_study_planned_enrolment_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_study')),
    sa.UniqueConstraint('code', name=op.f('uq_study_code'))
    )
    op.create_table('protocol_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=20), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_protocol_version_study_id_study')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protocol_version')),
    sa.UniqueConstraint('study_id', 'version', name=op.f('uq_protocol_version_study_id_version'))
    )
    op.create_table('site',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=2), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('country', sa.String(length=3), nullable=False),
    sa.CheckConstraint('length(code) = 2', name=op.f('ck_site_code_format')),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_site_study_id_study')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_site')),
    sa.UniqueConstraint('study_id', 'code', name=op.f('uq_site_study_id_code'))
    )
    op.create_table('study_definition_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=40), nullable=False),
    sa.Column('source_file', sa.String(), nullable=False),
    sa.Column('source_sha256', sa.String(length=64), nullable=False),
    sa.Column('source_text', sa.Text(), nullable=False),
    sa.Column('loaded_at', jk500db.models.types.UTCDateTime(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_study_definition_version_study_id_study')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_study_definition_version')),
    sa.UniqueConstraint('study_id', 'source_sha256', name=op.f('uq_study_definition_version_study_id_source_sha256')),
    sa.UniqueConstraint('study_id', 'version', name=op.f('uq_study_definition_version_study_id_version'))
    )
    op.create_table('user_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('full_name', sa.String(length=120), nullable=False),
    sa.Column('role_code', sa.String(length=12), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('must_change_password', sa.Boolean(), nullable=False),
    sa.Column('password_changed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('session_epoch', sa.Integer(), nullable=False),
    sa.Column('created_at', jk500db.models.types.UTCDateTime(), nullable=False),
    sa.Column('deactivated_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('demo', sa.Boolean(), nullable=False),
    sa.CheckConstraint("email LIKE '%_@_%'", name=op.f('ck_user_account_email_format')),
    sa.CheckConstraint("role_code IN ('data_manager', 'monitor', 'investigator', 'statistician', 'admin')", name=op.f('ck_user_account_role_code')),
    sa.CheckConstraint('active OR deactivated_at IS NOT NULL', name=op.f('ck_user_account_deactivated_at_required')),
    sa.CheckConstraint('failed_logins >= 0', name=op.f('ck_user_account_failed_logins_range')),
    sa.ForeignKeyConstraint(['role_code'], ['role.code'], name=op.f('fk_user_account_role_code_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_account')),
    sa.UniqueConstraint('email', name=op.f('uq_user_account_email'))
    )
    op.create_table('export_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exported_at', jk500db.models.types.UTCDateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('formats', sa.String(length=120), nullable=False),
    sa.Column('identified', sa.Boolean(), nullable=False),
    sa.Column('as_of', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('audit_head_hash', sa.String(length=64), nullable=True),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_export_record_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_export_record'))
    )
    op.create_table('regimen_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('definition_id', sa.Integer(), nullable=False),
    sa.Column('agent', sa.String(length=16), nullable=False),
    sa.Column('dose_amount', jk500db.models.types.ExactDecimal(), nullable=False),
    sa.Column('dose_basis', sa.String(length=8), nullable=False),
    sa.Column('route', sa.String(length=7), nullable=False),
    sa.Column('days', sa.String(), nullable=False),
    sa.Column('planned_doses', sa.Integer(), nullable=False),
    sa.Column('timing', sa.Text(), nullable=True),
    sa.CheckConstraint("agent IN ('cyclophosphamide', 'fludarabine', 'il2', 'jk500')", name=op.f('ck_regimen_item_agent')),
    sa.CheckConstraint("dose_basis IN ('mg/kg', 'mg/m2', 'IU/m2', 'WU/m2', 'cells/kg')", name=op.f('ck_regimen_item_dose_basis')),
    sa.CheckConstraint("route IN ('iv', 'sc', 'po', 'im', 'inhaled', 'topical', 'other')", name=op.f('ck_regimen_item_route')),
    sa.CheckConstraint('dose_amount IS NULL OR CAST(dose_amount AS NUMERIC) > 0', name=op.f('ck_regimen_item_dose_amount_positive')),
    sa.CheckConstraint('planned_doses IS NULL OR CAST(planned_doses AS NUMERIC) > 0', name=op.f('ck_regimen_item_planned_doses_positive')),
    sa.ForeignKeyConstraint(['definition_id'], ['study_definition_version.id'], name=op.f('fk_regimen_item_definition_id_study_definition_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_regimen_item')),
    sa.UniqueConstraint('definition_id', 'agent', name=op.f('uq_regimen_item_definition_id_agent'))
    )
    op.create_table('rule_setting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('definition_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('value_json', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['definition_id'], ['study_definition_version.id'], name=op.f('fk_rule_setting_definition_id_study_definition_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_setting')),
    sa.UniqueConstraint('definition_id', 'key', name=op.f('uq_rule_setting_definition_id_key'))
    )
    op.create_table('security_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', jk500db.models.types.UTCDateTime(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('remote_addr', sa.String(length=45), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.CheckConstraint("kind IN ('login_succeeded', 'login_failed', 'logout', 'locked_out', 'unlocked', 'session_expired', 'password_changed', 'password_reset', 'account_created', 'account_disabled', 'role_changed', 'signature_failed')", name=op.f('ck_security_event_kind')),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_security_event_actor_id_user_account')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_security_event_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_security_event'))
    )
    op.create_table('subject',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('subject_number', sa.String(length=6), nullable=False),
    sa.Column('screening_number', sa.String(length=20), nullable=False),
    sa.Column('sex', sa.String(length=16), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=17), nullable=False),
    sa.Column('enrolled_on', sa.Date(), nullable=True),
    sa.Column('synthetic', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("length(subject_number) = 6 AND substr(subject_number, 3, 1) = '-'", name=op.f('ck_subject_subject_number_format')),
    sa.CheckConstraint("sex IN ('M', 'F', 'U', 'UNDIFFERENTIATED')", name=op.f('ck_subject_sex')),
    sa.CheckConstraint("status IN ('screening', 'screen_failed', 'enrolled', 'lymphodepletion', 'infused', 'follow_up', 'completed', 'withdrawn', 'lost_to_follow_up', 'died')", name=op.f('ck_subject_status')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_subject_removed_reason_required')),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_subject_site_id_site')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subject')),
    sa.UniqueConstraint('site_id', 'screening_number', name=op.f('uq_subject_site_id_screening_number')),
    sa.UniqueConstraint('subject_number', name=op.f('uq_subject_subject_number'))
    )
    with op.batch_alter_table('subject', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subject_site_id'), ['site_id'], unique=False)

    op.create_table('user_site',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_user_site_site_id_site')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_user_site_user_id_user_account')),
    sa.PrimaryKeyConstraint('user_id', 'site_id', name=op.f('pk_user_site'))
    )
    op.create_table('visit_definition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('definition_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('label', sa.String(), nullable=False),
    sa.Column('order', sa.Integer(), nullable=False),
    sa.Column('anchor', sa.String(length=21), nullable=False),
    sa.Column('nominal_day', sa.Integer(), nullable=True),
    sa.Column('window_before', sa.Integer(), nullable=False),
    sa.Column('window_after', sa.Integer(), nullable=False),
    sa.CheckConstraint("anchor IN ('lymphodepletion_start', 'first_infusion')", name=op.f('ck_visit_definition_anchor')),
    sa.CheckConstraint('window_after >= 0', name=op.f('ck_visit_definition_window_after_range')),
    sa.CheckConstraint('window_before >= 0', name=op.f('ck_visit_definition_window_before_range')),
    sa.ForeignKeyConstraint(['definition_id'], ['study_definition_version.id'], name=op.f('fk_visit_definition_definition_id_study_definition_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_definition')),
    sa.UniqueConstraint('definition_id', 'code', name=op.f('uq_visit_definition_definition_id_code')),
    sa.UniqueConstraint('definition_id', 'order', name=op.f('uq_visit_definition_definition_id_order'))
    )
    op.create_table('adverse_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('ae_number', sa.Integer(), nullable=False),
    sa.Column('ctcae_term_id', sa.Integer(), nullable=False),
    sa.Column('verbatim', sa.String(length=200), nullable=True),
    sa.Column('onset_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('ongoing', sa.Boolean(), nullable=False),
    sa.Column('grade', sa.Integer(), nullable=False),
    sa.Column('derived_grade', sa.Integer(), nullable=True),
    sa.Column('derived_grade_rule', sa.String(length=60), nullable=True),
    sa.Column('grade_difference_reason', sa.Text(), nullable=True),
    sa.Column('serious', sa.Boolean(), nullable=False),
    sa.Column('serious_death', sa.Boolean(), nullable=False),
    sa.Column('serious_life_threatening', sa.Boolean(), nullable=False),
    sa.Column('serious_hospitalisation', sa.Boolean(), nullable=False),
    sa.Column('serious_disability', sa.Boolean(), nullable=False),
    sa.Column('serious_congenital_anomaly', sa.Boolean(), nullable=False),
    sa.Column('serious_medically_important', sa.Boolean(), nullable=False),
    sa.Column('related_jk500', sa.String(length=11), nullable=True),
    sa.Column('related_il2', sa.String(length=11), nullable=True),
    sa.Column('related_lymphodepletion', sa.String(length=11), nullable=True),
    sa.Column('attributed_elsewhere', sa.Boolean(), nullable=False),
    sa.Column('expectedness', sa.String(length=10), nullable=True),
    sa.Column('action_taken', sa.String(length=16), nullable=True),
    sa.Column('outcome', sa.String(length=23), nullable=True),
    sa.Column('dlt_candidate', sa.Boolean(), nullable=True),
    sa.Column('dlt_reasons', sa.Text(), nullable=True),
    sa.Column('dlt_decision', sa.String(length=9), nullable=True),
    sa.Column('dlt_decided_by_id', sa.Integer(), nullable=True),
    sa.Column('dlt_decided_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('awareness_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('sponsor_report_due_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('sponsor_reported_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('susar', sa.Boolean(), nullable=True),
    sa.Column('regulator_initial_due_on', sa.Date(), nullable=True),
    sa.Column('regulator_follow_up_due_on', sa.Date(), nullable=True),
    sa.Column('regulator_reported_on', sa.Date(), nullable=True),
    sa.Column('report_status', sa.String(length=14), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("action_taken IN ('dose_not_changed', 'drug_interrupted', 'drug_withdrawn', 'dose_reduced', 'not_applicable', 'unknown')", name=op.f('ck_adverse_event_action_taken')),
    sa.CheckConstraint("dlt_decision IN ('confirmed', 'not_a_dlt')", name=op.f('ck_adverse_event_dlt_decision')),
    sa.CheckConstraint("expectedness IN ('expected', 'unexpected')", name=op.f('ck_adverse_event_expectedness')),
    sa.CheckConstraint("outcome IN ('recovered', 'recovering', 'not_recovered', 'recovered_with_sequelae', 'fatal', 'unknown')", name=op.f('ck_adverse_event_outcome')),
    sa.CheckConstraint("related_il2 IN ('not_related', 'unlikely', 'possible', 'probable', 'definite')", name=op.f('ck_adverse_event_related_il2')),
    sa.CheckConstraint("related_jk500 IN ('not_related', 'unlikely', 'possible', 'probable', 'definite')", name=op.f('ck_adverse_event_related_jk500')),
    sa.CheckConstraint("related_lymphodepletion IN ('not_related', 'unlikely', 'possible', 'probable', 'definite')", name=op.f('ck_adverse_event_related_lymphodepletion')),
    sa.CheckConstraint("report_status IN ('pending', 'overdue', 'submitted', 'submitted_late')", name=op.f('ck_adverse_event_report_status')),
    sa.CheckConstraint('NOT (ongoing AND end_date IS NOT NULL)', name=op.f('ck_adverse_event_ongoing_without_end')),
    sa.CheckConstraint('NOT (serious) OR awareness_at IS NOT NULL', name=op.f('ck_adverse_event_awareness_at_required')),
    sa.CheckConstraint('NOT serious OR (serious_death OR serious_life_threatening OR serious_hospitalisation OR serious_disability OR serious_congenital_anomaly OR serious_medically_important)', name=op.f('ck_adverse_event_serious_needs_criterion')),
    sa.CheckConstraint('ae_number >= 1', name=op.f('ck_adverse_event_ae_number_range')),
    sa.CheckConstraint('derived_grade IS NULL OR (CAST(derived_grade AS NUMERIC) >= 0 AND CAST(derived_grade AS NUMERIC) <= 5)', name=op.f('ck_adverse_event_derived_grade_range')),
    sa.CheckConstraint('end_date IS NULL OR onset_date IS NULL OR end_date >= onset_date', name=op.f('ck_adverse_event_end_date_after_onset_date')),
    sa.CheckConstraint('grade <> 5 OR serious_death', name=op.f('ck_adverse_event_grade_5_is_death')),
    sa.CheckConstraint('grade IS NULL OR (CAST(grade AS NUMERIC) >= 1 AND CAST(grade AS NUMERIC) <= 5)', name=op.f('ck_adverse_event_grade_range')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_adverse_event_removed_reason_required')),
    sa.CheckConstraint('serious OR NOT (serious_death OR serious_life_threatening OR serious_hospitalisation OR serious_disability OR serious_congenital_anomaly OR serious_medically_important)', name=op.f('ck_adverse_event_serious_criteria_need_serious')),
    sa.CheckConstraint('sponsor_reported_at IS NULL OR awareness_at IS NULL OR sponsor_reported_at >= awareness_at', name=op.f('ck_adverse_event_sponsor_reported_at_after_awareness_at')),
    sa.ForeignKeyConstraint(['ctcae_term_id'], ['ctcae_term.id'], name=op.f('fk_adverse_event_ctcae_term_id_ctcae_term')),
    sa.ForeignKeyConstraint(['dlt_decided_by_id'], ['user_account.id'], name=op.f('fk_adverse_event_dlt_decided_by_id_user_account')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_adverse_event_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adverse_event')),
    sa.UniqueConstraint('subject_id', 'ae_number', name=op.f('uq_adverse_event_subject_id_ae_number'))
    )
    with op.batch_alter_table('adverse_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_adverse_event_subject_id'), ['subject_id'], unique=False)

    op.create_table('consent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('document_version', sa.String(length=20), nullable=False),
    sa.Column('signed_on', sa.Date(), nullable=False),
    sa.Column('signer', sa.String(length=14), nullable=False),
    sa.Column('signer_name', sa.String(length=120), nullable=True),
    sa.Column('withdrawn_on', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("kind <> 'assent' OR signer = 'subject'", name=op.f('ck_consent_assent_signer')),
    sa.CheckConstraint("kind = 'assent' OR signer <> 'subject'", name=op.f('ck_consent_consent_signer')),
    sa.CheckConstraint("kind IN ('guardian_consent', 'assent', 'reconsent')", name=op.f('ck_consent_kind')),
    sa.CheckConstraint("signer IN ('parent', 'legal_guardian', 'subject')", name=op.f('ck_consent_signer')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_consent_removed_reason_required')),
    sa.CheckConstraint('withdrawn_on IS NULL OR signed_on IS NULL OR withdrawn_on >= signed_on', name=op.f('ck_consent_withdrawn_on_after_signed_on')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_consent_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent'))
    )
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_subject_id'), ['subject_id'], unique=False)

    op.create_table('disease_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('diagnosis_year', sa.Integer(), nullable=True),
    sa.Column('diagnosis_month', sa.Integer(), nullable=True),
    sa.Column('diagnosis_day', sa.Integer(), nullable=True),
    sa.Column('who2016_class', sa.String(length=200), nullable=True),
    sa.Column('aml_who2016', sa.Boolean(), nullable=True),
    sa.Column('karyotype', sa.Text(), nullable=True),
    sa.Column('genetic_risk', sa.String(length=12), nullable=True),
    sa.Column('apl', sa.Boolean(), nullable=True),
    sa.Column('cml', sa.Boolean(), nullable=True),
    sa.Column('mixed_phenotype', sa.Boolean(), nullable=True),
    sa.Column('induction_courses', sa.Integer(), nullable=True),
    sa.Column('best_response_after_induction', sa.String(length=7), nullable=True),
    sa.Column('cr_year', sa.Integer(), nullable=True),
    sa.Column('cr_month', sa.Integer(), nullable=True),
    sa.Column('cr_day', sa.Integer(), nullable=True),
    sa.Column('relapse_year', sa.Integer(), nullable=True),
    sa.Column('relapse_month', sa.Integer(), nullable=True),
    sa.Column('relapse_day', sa.Integer(), nullable=True),
    sa.Column('prior_hsct', sa.Boolean(), nullable=True),
    sa.Column('prior_hsct_year', sa.Integer(), nullable=True),
    sa.Column('prior_hsct_month', sa.Integer(), nullable=True),
    sa.Column('prior_hsct_day', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("best_response_after_induction IN ('CR', 'CRh', 'CRi', 'MLFS', 'PR', 'NR', 'unknown')", name=op.f('ck_disease_history_best_response_after_induction')),
    sa.CheckConstraint("genetic_risk IN ('favorable', 'intermediate', 'adverse')", name=op.f('ck_disease_history_genetic_risk')),
    sa.CheckConstraint('cr_day IS NULL OR (cr_day BETWEEN 1 AND 31 AND cr_month IS NOT NULL)', name=op.f('ck_disease_history_cr_day_range')),
    sa.CheckConstraint('cr_month IS NULL OR (cr_month BETWEEN 1 AND 12 AND cr_year IS NOT NULL)', name=op.f('ck_disease_history_cr_month_range')),
    sa.CheckConstraint('cr_year IS NULL OR cr_year BETWEEN 1900 AND 2100', name=op.f('ck_disease_history_cr_year_range')),
    sa.CheckConstraint('diagnosis_day IS NULL OR (diagnosis_day BETWEEN 1 AND 31 AND diagnosis_month IS NOT NULL)', name=op.f('ck_disease_history_diagnosis_day_range')),
    sa.CheckConstraint('diagnosis_month IS NULL OR (diagnosis_month BETWEEN 1 AND 12 AND diagnosis_year IS NOT NULL)', name=op.f('ck_disease_history_diagnosis_month_range')),
    sa.CheckConstraint('diagnosis_year IS NULL OR diagnosis_year BETWEEN 1900 AND 2100', name=op.f('ck_disease_history_diagnosis_year_range')),
    sa.CheckConstraint('induction_courses IS NULL OR induction_courses >= 0', name=op.f('ck_disease_history_induction_courses_range')),
    sa.CheckConstraint('prior_hsct_day IS NULL OR (prior_hsct_day BETWEEN 1 AND 31 AND prior_hsct_month IS NOT NULL)', name=op.f('ck_disease_history_prior_hsct_day_range')),
    sa.CheckConstraint('prior_hsct_month IS NULL OR (prior_hsct_month BETWEEN 1 AND 12 AND prior_hsct_year IS NOT NULL)', name=op.f('ck_disease_history_prior_hsct_month_range')),
    sa.CheckConstraint('prior_hsct_year IS NULL OR prior_hsct_year BETWEEN 1900 AND 2100', name=op.f('ck_disease_history_prior_hsct_year_range')),
    sa.CheckConstraint('relapse_day IS NULL OR (relapse_day BETWEEN 1 AND 31 AND relapse_month IS NOT NULL)', name=op.f('ck_disease_history_relapse_day_range')),
    sa.CheckConstraint('relapse_month IS NULL OR (relapse_month BETWEEN 1 AND 12 AND relapse_year IS NOT NULL)', name=op.f('ck_disease_history_relapse_month_range')),
    sa.CheckConstraint('relapse_year IS NULL OR relapse_year BETWEEN 1900 AND 2100', name=op.f('ck_disease_history_relapse_year_range')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_disease_history_removed_reason_required')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_disease_history_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disease_history')),
    sa.UniqueConstraint('subject_id', name=op.f('uq_disease_history_subject_id'))
    )
    with op.batch_alter_table('disease_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disease_history_subject_id'), ['subject_id'], unique=False)

    op.create_table('end_of_study',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=17), nullable=False),
    sa.Column('ended_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('withdrawal_by', sa.String(length=12), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("NOT (status = 'withdrawn') OR withdrawal_by IS NOT NULL", name=op.f('ck_end_of_study_withdrawal_by_required')),
    sa.CheckConstraint("NOT (status IN ('withdrawn', 'screen_failed', 'lost_to_follow_up')) OR reason IS NOT NULL", name=op.f('ck_end_of_study_reason_required')),
    sa.CheckConstraint("status IN ('completed', 'screen_failed', 'withdrawn', 'died', 'lost_to_follow_up')", name=op.f('ck_end_of_study_status')),
    sa.CheckConstraint("withdrawal_by IN ('guardian', 'subject', 'investigator', 'sponsor')", name=op.f('ck_end_of_study_withdrawal_by')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_end_of_study_removed_reason_required')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_end_of_study_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_end_of_study')),
    sa.UniqueConstraint('subject_id', name=op.f('uq_end_of_study_subject_id'))
    )
    with op.batch_alter_table('end_of_study', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_end_of_study_subject_id'), ['subject_id'], unique=False)

    op.create_table('expected_form',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_definition_id', sa.Integer(), nullable=False),
    sa.Column('form_code', sa.String(length=15), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.CheckConstraint("form_code IN ('consent', 'demographics', 'disease_history', 'prior_therapy', 'screening', 'virology', 'eligibility', 'labs', 'vitals', 'lymphodepletion', 'il2', 'infusion', 'crs', 'icans', 'adverse_events', 'conmeds', 'procedures', 'response', 'transplant', 'disposition', 'death', 'survival', 'deviations')", name=op.f('ck_expected_form_form_code')),
    sa.ForeignKeyConstraint(['visit_definition_id'], ['visit_definition.id'], name=op.f('fk_expected_form_visit_definition_id_visit_definition')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expected_form')),
    sa.UniqueConstraint('visit_definition_id', 'form_code', name=op.f('uq_expected_form_visit_definition_id_form_code'))
    )
    op.create_table('prior_therapy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('line_number', sa.Integer(), nullable=False),
    sa.Column('regimen', sa.String(length=200), nullable=False),
    sa.Column('therapy_type', sa.String(length=13), nullable=False),
    sa.Column('standard_dose_induction', sa.Boolean(), nullable=False),
    sa.Column('courses', sa.Integer(), nullable=True),
    sa.Column('start_year', sa.Integer(), nullable=True),
    sa.Column('start_month', sa.Integer(), nullable=True),
    sa.Column('start_day', sa.Integer(), nullable=True),
    sa.Column('end_year', sa.Integer(), nullable=True),
    sa.Column('end_month', sa.Integer(), nullable=True),
    sa.Column('end_day', sa.Integer(), nullable=True),
    sa.Column('best_response', sa.String(length=7), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("best_response IN ('CR', 'CRh', 'CRi', 'MLFS', 'PR', 'NR', 'unknown')", name=op.f('ck_prior_therapy_best_response')),
    sa.CheckConstraint("therapy_type IN ('induction', 'consolidation', 'salvage', 'hsct', 'targeted', 'other')", name=op.f('ck_prior_therapy_therapy_type')),
    sa.CheckConstraint('courses IS NULL OR courses >= 1', name=op.f('ck_prior_therapy_courses_range')),
    sa.CheckConstraint('end_day IS NULL OR (end_day BETWEEN 1 AND 31 AND end_month IS NOT NULL)', name=op.f('ck_prior_therapy_end_day_range')),
    sa.CheckConstraint('end_month IS NULL OR (end_month BETWEEN 1 AND 12 AND end_year IS NOT NULL)', name=op.f('ck_prior_therapy_end_month_range')),
    sa.CheckConstraint('end_year IS NULL OR end_year BETWEEN 1900 AND 2100', name=op.f('ck_prior_therapy_end_year_range')),
    sa.CheckConstraint('line_number >= 1', name=op.f('ck_prior_therapy_line_number_range')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_prior_therapy_removed_reason_required')),
    sa.CheckConstraint('start_day IS NULL OR (start_day BETWEEN 1 AND 31 AND start_month IS NOT NULL)', name=op.f('ck_prior_therapy_start_day_range')),
    sa.CheckConstraint('start_month IS NULL OR (start_month BETWEEN 1 AND 12 AND start_year IS NOT NULL)', name=op.f('ck_prior_therapy_start_month_range')),
    sa.CheckConstraint('start_year IS NULL OR start_year BETWEEN 1900 AND 2100', name=op.f('ck_prior_therapy_start_year_range')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_prior_therapy_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prior_therapy')),
    sa.UniqueConstraint('subject_id', 'line_number', name=op.f('uq_prior_therapy_subject_id_line_number'))
    )
    with op.batch_alter_table('prior_therapy', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prior_therapy_subject_id'), ['subject_id'], unique=False)

    op.create_table('procedure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('performed_on', sa.Date(), nullable=False),
    sa.Column('indication', sa.String(length=200), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_procedure_removed_reason_required')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_procedure_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_procedure'))
    )
    with op.batch_alter_table('procedure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_procedure_subject_id'), ['subject_id'], unique=False)

    op.create_table('protocol_deviation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('category', sa.String(length=60), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('severity', sa.String(length=5), nullable=False),
    sa.Column('reported_on', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("severity IN ('major', 'minor')", name=op.f('ck_protocol_deviation_severity')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_protocol_deviation_removed_reason_required')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_protocol_deviation_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protocol_deviation'))
    )
    with op.batch_alter_table('protocol_deviation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_protocol_deviation_subject_id'), ['subject_id'], unique=False)

    op.create_table('query',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('table_name', sa.String(length=60), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('field_name', sa.String(length=60), nullable=True),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('origin', sa.String(length=19), nullable=False),
    sa.Column('rule_id', sa.String(length=60), nullable=True),
    sa.Column('opened_by_id', sa.Integer(), nullable=True),
    sa.Column('opened_at', jk500db.models.types.UTCDateTime(), nullable=False),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.CheckConstraint("NOT (origin = 'edit_check') OR rule_id IS NOT NULL", name=op.f('ck_query_rule_id_required')),
    sa.CheckConstraint("NOT (origin = 'manual') OR opened_by_id IS NOT NULL", name=op.f('ck_query_opened_by_id_required')),
    sa.CheckConstraint("NOT (status = 'closed') OR closed_at IS NOT NULL", name=op.f('ck_query_closed_at_required')),
    sa.CheckConstraint("origin IN ('manual', 'edit_check', 'derivation_mismatch')", name=op.f('ck_query_origin')),
    sa.CheckConstraint("status IN ('open', 'answered', 'closed')", name=op.f('ck_query_status')),
    sa.ForeignKeyConstraint(['answered_by_id'], ['user_account.id'], name=op.f('fk_query_answered_by_id_user_account')),
    sa.ForeignKeyConstraint(['closed_by_id'], ['user_account.id'], name=op.f('fk_query_closed_by_id_user_account')),
    sa.ForeignKeyConstraint(['opened_by_id'], ['user_account.id'], name=op.f('fk_query_opened_by_id_user_account')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_query_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_query'))
    )
    with op.batch_alter_table('query', schema=None) as batch_op:
        batch_op.create_index('ix_query_record', ['table_name', 'record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_query_subject_id'), ['subject_id'], unique=False)

    op.create_table('screening',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('screening_date', sa.Date(), nullable=False),
    sa.Column('reference_date', sa.Date(), nullable=True),
    sa.Column('cns_status', sa.String(length=4), nullable=True),
    sa.Column('cns_leukemia', sa.Boolean(), nullable=True),
    sa.Column('congenital_syndrome', sa.String(length=27), nullable=True),
    sa.Column('active_systemic_infection', sa.Boolean(), nullable=True),
    sa.Column('infection_details', sa.Text(), nullable=True),
    sa.Column('prior_trial_drug', sa.Boolean(), nullable=True),
    sa.Column('prior_trial_drug_last_date', sa.Date(), nullable=True),
    sa.Column('significant_disease_within_28_days', sa.Boolean(), nullable=True),
    sa.Column('major_surgery', sa.Boolean(), nullable=True),
    sa.Column('major_surgery_date', sa.Date(), nullable=True),
    sa.Column('major_surgery_expected', sa.Boolean(), nullable=True),
    sa.Column('live_vaccine', sa.Boolean(), nullable=True),
    sa.Column('live_vaccine_date', sa.Date(), nullable=True),
    sa.Column('live_vaccine_planned_within_6_months', sa.Boolean(), nullable=True),
    sa.Column('investigator_excludes', sa.Boolean(), nullable=True),
    sa.Column('investigator_exclusion_reason', sa.Text(), nullable=True),
    sa.Column('eligible_derived', sa.Boolean(), nullable=True),
    sa.Column('eligibility_rule', sa.String(length=60), nullable=True),
    sa.Column('eligibility_settings', sa.Text(), nullable=True),
    sa.Column('investigator_confirmed', sa.Boolean(), nullable=True),
    sa.Column('confirmed_by_id', sa.Integer(), nullable=True),
    sa.Column('confirmed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("cns_status IN ('cns1', 'cns2', 'cns3')", name=op.f('ck_screening_cns_status')),
    sa.CheckConstraint("congenital_syndrome IN ('none', 'down', 'fanconi_anaemia', 'bloom', 'kostmann', 'congenital_aplastic_anaemia', 'other')", name=op.f('ck_screening_congenital_syndrome')),
    sa.CheckConstraint('NOT (investigator_excludes) OR investigator_exclusion_reason IS NOT NULL', name=op.f('ck_screening_investigator_exclusion_reason_required')),
    sa.CheckConstraint('NOT (live_vaccine) OR live_vaccine_date IS NOT NULL', name=op.f('ck_screening_live_vaccine_date_required')),
    sa.CheckConstraint('NOT (major_surgery) OR major_surgery_date IS NOT NULL', name=op.f('ck_screening_major_surgery_date_required')),
    sa.CheckConstraint('NOT (prior_trial_drug) OR prior_trial_drug_last_date IS NOT NULL', name=op.f('ck_screening_prior_trial_drug_last_date_required')),
    sa.CheckConstraint('reference_date IS NULL OR screening_date IS NULL OR reference_date >= screening_date', name=op.f('ck_screening_reference_date_after_screening_date')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_screening_removed_reason_required')),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['user_account.id'], name=op.f('fk_screening_confirmed_by_id_user_account')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_screening_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening')),
    sa.UniqueConstraint('subject_id', name=op.f('uq_screening_subject_id'))
    )
    with op.batch_alter_table('screening', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_screening_subject_id'), ['subject_id'], unique=False)

    op.create_table('signature',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('printed_name', sa.String(length=120), nullable=False),
    sa.Column('signed_at', jk500db.models.types.UTCDateTime(), nullable=False),
    sa.Column('meaning', sa.String(length=21), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('table_name', sa.String(length=60), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('invalidated_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('invalidated_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("meaning IN ('eligibility_confirmed', 'ae_causality_assessed', 'dlt_confirmed', 'response_confirmed', 'casebook_reviewed')", name=op.f('ck_signature_meaning')),
    sa.CheckConstraint('length(content_sha256) = 64', name=op.f('ck_signature_content_sha256_format')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_signature_subject_id_subject')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_signature_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signature'))
    )
    with op.batch_alter_table('signature', schema=None) as batch_op:
        batch_op.create_index('ix_signature_record', ['table_name', 'record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_signature_subject_id'), ['subject_id'], unique=False)

    op.create_table('survival_follow_up',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('contact_date', sa.Date(), nullable=False),
    sa.Column('vital_status', sa.String(length=7), nullable=False),
    sa.Column('disease_status', sa.String(length=200), nullable=True),
    sa.Column('new_therapy', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("vital_status IN ('alive', 'dead', 'unknown')", name=op.f('ck_survival_follow_up_vital_status')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_survival_follow_up_removed_reason_required')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_survival_follow_up_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survival_follow_up')),
    sa.UniqueConstraint('subject_id', 'contact_date', name=op.f('uq_survival_follow_up_subject_id_contact_date'))
    )
    with op.batch_alter_table('survival_follow_up', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survival_follow_up_subject_id'), ['subject_id'], unique=False)

    op.create_table('transplant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('transplant_date', sa.Date(), nullable=False),
    sa.Column('donor_type', sa.String(length=17), nullable=False),
    sa.Column('conditioning', sa.String(length=200), nullable=True),
    sa.Column('pre_transplant_response', sa.String(length=10), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("donor_type IN ('matched_sibling', 'matched_unrelated', 'haploidentical', 'cord_blood', 'autologous', 'other')", name=op.f('ck_transplant_donor_type')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_transplant_removed_reason_required')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_transplant_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transplant')),
    sa.UniqueConstraint('subject_id', 'transplant_date', name=op.f('uq_transplant_subject_id_transplant_date'))
    )
    with op.batch_alter_table('transplant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transplant_subject_id'), ['subject_id'], unique=False)

    op.create_table('visit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('visit_definition_id', sa.Integer(), nullable=True),
    sa.Column('visit_code', sa.String(length=20), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('unscheduled', sa.Boolean(), nullable=False),
    sa.Column('visit_date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=14), nullable=False),
    sa.Column('missed_reason', sa.Text(), nullable=True),
    sa.Column('protocol_day', sa.Integer(), nullable=True),
    sa.Column('study_day', sa.Integer(), nullable=True),
    sa.Column('window_status', sa.String(length=9), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("NOT (status = 'completed') OR visit_date IS NOT NULL", name=op.f('ck_visit_visit_date_required')),
    sa.CheckConstraint("NOT (status = 'missed') OR missed_reason IS NOT NULL", name=op.f('ck_visit_missed_reason_required')),
    sa.CheckConstraint("status IN ('scheduled', 'completed', 'missed', 'not_applicable')", name=op.f('ck_visit_status')),
    sa.CheckConstraint("window_status IN ('early', 'in_window', 'late')", name=op.f('ck_visit_window_status')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_visit_removed_reason_required')),
    sa.CheckConstraint('sequence >= 1', name=op.f('ck_visit_sequence_range')),
    sa.CheckConstraint('study_day IS NULL OR study_day <> 0', name=op.f('ck_visit_study_day_not_zero')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_visit_subject_id_subject')),
    sa.ForeignKeyConstraint(['visit_definition_id'], ['visit_definition.id'], name=op.f('fk_visit_visit_definition_id_visit_definition')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit')),
    sa.UniqueConstraint('subject_id', 'visit_code', 'sequence', name=op.f('uq_visit_subject_id_visit_code_sequence'))
    )
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visit_subject_id'), ['subject_id'], unique=False)

    op.create_table('concomitant_medication',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=14), nullable=False),
    sa.Column('indication', sa.String(length=200), nullable=True),
    sa.Column('adverse_event_id', sa.Integer(), nullable=True),
    sa.Column('dose', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('dose_unit', sa.String(length=20), nullable=True),
    sa.Column('route', sa.String(length=7), nullable=True),
    sa.Column('frequency', sa.String(length=40), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('ongoing', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("category IN ('tocilizumab', 'corticosteroid', 'anti_infective', 'transfusion', 'antipyretic', 'other')", name=op.f('ck_concomitant_medication_category')),
    sa.CheckConstraint("route IN ('iv', 'sc', 'po', 'im', 'inhaled', 'topical', 'other')", name=op.f('ck_concomitant_medication_route')),
    sa.CheckConstraint('NOT (ongoing AND end_date IS NOT NULL)', name=op.f('ck_concomitant_medication_ongoing_without_end')),
    sa.CheckConstraint('dose IS NULL OR CAST(dose AS NUMERIC) > 0', name=op.f('ck_concomitant_medication_dose_positive')),
    sa.CheckConstraint('dose IS NULL OR dose_unit IS NOT NULL', name=op.f('ck_concomitant_medication_dose_unit_required')),
    sa.CheckConstraint('end_date IS NULL OR start_date IS NULL OR end_date >= start_date', name=op.f('ck_concomitant_medication_end_date_after_start_date')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_concomitant_medication_removed_reason_required')),
    sa.ForeignKeyConstraint(['adverse_event_id'], ['adverse_event.id'], name=op.f('fk_concomitant_medication_adverse_event_id_adverse_event')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_concomitant_medication_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_concomitant_medication'))
    )
    with op.batch_alter_table('concomitant_medication', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_concomitant_medication_subject_id'), ['subject_id'], unique=False)

    op.create_table('crs_assessment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('adverse_event_id', sa.Integer(), nullable=True),
    sa.Column('assessed_at', jk500db.models.types.UTCDateTime(), nullable=False),
    sa.Column('max_temp_c', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('prior_crs_treated', sa.Boolean(), nullable=False),
    sa.Column('hypotension', sa.Boolean(), nullable=False),
    sa.Column('oxygen_device', sa.String(length=23), nullable=False),
    sa.Column('oxygen_flow_l_min', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('intubated_for_airway_only', sa.Boolean(), nullable=False),
    sa.Column('tocilizumab_given', sa.Boolean(), nullable=False),
    sa.Column('steroids_given', sa.Boolean(), nullable=False),
    sa.Column('other_cause', sa.Boolean(), nullable=False),
    sa.Column('death', sa.Boolean(), nullable=False),
    sa.Column('astct_grade', sa.Integer(), nullable=True),
    sa.Column('grade_reasons', sa.Text(), nullable=True),
    sa.Column('grade_rule', sa.String(length=60), nullable=True),
    sa.Column('grade_settings', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("oxygen_device IN ('room_air', 'blow_by', 'nasal_cannula', 'high_flow_nasal_cannula', 'facemask', 'non_rebreather', 'venturi', 'cpap', 'bipap', 'mechanical_ventilation')", name=op.f('ck_crs_assessment_oxygen_device')),
    sa.CheckConstraint('astct_grade IS NULL OR (CAST(astct_grade AS NUMERIC) >= 0 AND CAST(astct_grade AS NUMERIC) <= 5)', name=op.f('ck_crs_assessment_astct_grade_range')),
    sa.CheckConstraint('max_temp_c IS NULL OR (CAST(max_temp_c AS NUMERIC) >= 25 AND CAST(max_temp_c AS NUMERIC) <= 45)', name=op.f('ck_crs_assessment_max_temp_c_range')),
    sa.CheckConstraint('oxygen_flow_l_min IS NULL OR CAST(oxygen_flow_l_min AS NUMERIC) > 0', name=op.f('ck_crs_assessment_oxygen_flow_l_min_positive')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_crs_assessment_removed_reason_required')),
    sa.ForeignKeyConstraint(['adverse_event_id'], ['adverse_event.id'], name=op.f('fk_crs_assessment_adverse_event_id_adverse_event')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_crs_assessment_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crs_assessment'))
    )
    with op.batch_alter_table('crs_assessment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crs_assessment_adverse_event_id'), ['adverse_event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_crs_assessment_subject_id'), ['subject_id'], unique=False)

    op.create_table('death',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('death_date', sa.Date(), nullable=False),
    sa.Column('cause', sa.String(length=19), nullable=False),
    sa.Column('cause_text', sa.Text(), nullable=True),
    sa.Column('adverse_event_id', sa.Integer(), nullable=True),
    sa.Column('autopsy', sa.Boolean(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("NOT (cause = 'adverse_event') OR adverse_event_id IS NOT NULL", name=op.f('ck_death_adverse_event_id_required')),
    sa.CheckConstraint("cause IN ('disease_progression', 'adverse_event', 'other', 'unknown')", name=op.f('ck_death_cause')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_death_removed_reason_required')),
    sa.ForeignKeyConstraint(['adverse_event_id'], ['adverse_event.id'], name=op.f('fk_death_adverse_event_id_adverse_event')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_death_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_death')),
    sa.UniqueConstraint('subject_id', name=op.f('uq_death_subject_id'))
    )
    with op.batch_alter_table('death', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_death_subject_id'), ['subject_id'], unique=False)

    op.create_table('drug_administration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('agent', sa.String(length=16), nullable=False),
    sa.Column('dose_number', sa.Integer(), nullable=False),
    sa.Column('route', sa.String(length=7), nullable=False),
    sa.Column('started_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('ended_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('height_cm', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('weight_kg', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('measured_on', sa.Date(), nullable=True),
    sa.Column('bsa_formula', sa.String(length=9), nullable=True),
    sa.Column('bsa_m2', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('dose_per_basis', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('dose_basis', sa.String(length=8), nullable=True),
    sa.Column('planned_dose', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('actual_dose', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('dose_unit', sa.String(length=5), nullable=False),
    sa.Column('deviation_pct', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('deviation', sa.Boolean(), nullable=True),
    sa.Column('dose_rule', sa.String(length=60), nullable=True),
    sa.Column('dose_settings', sa.Text(), nullable=True),
    sa.Column('not_given', sa.Boolean(), nullable=False),
    sa.Column('not_given_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("agent <> 'jk500'", name=op.f('ck_drug_administration_agent_not_jk500')),
    sa.CheckConstraint("agent IN ('cyclophosphamide', 'fludarabine', 'il2', 'jk500')", name=op.f('ck_drug_administration_agent')),
    sa.CheckConstraint("bsa_formula IN ('mosteller', 'haycock', 'dubois')", name=op.f('ck_drug_administration_bsa_formula')),
    sa.CheckConstraint("dose_basis IN ('mg/kg', 'mg/m2', 'IU/m2', 'WU/m2', 'cells/kg')", name=op.f('ck_drug_administration_dose_basis')),
    sa.CheckConstraint("dose_unit IN ('mg', 'IU', 'cells')", name=op.f('ck_drug_administration_dose_unit')),
    sa.CheckConstraint("route IN ('iv', 'sc', 'po', 'im', 'inhaled', 'topical', 'other')", name=op.f('ck_drug_administration_route')),
    sa.CheckConstraint('NOT (NOT not_given) OR actual_dose IS NOT NULL', name=op.f('ck_drug_administration_actual_dose_required')),
    sa.CheckConstraint('NOT (not_given) OR not_given_reason IS NOT NULL', name=op.f('ck_drug_administration_not_given_reason_required')),
    sa.CheckConstraint('actual_dose IS NULL OR CAST(actual_dose AS NUMERIC) >= 0', name=op.f('ck_drug_administration_actual_dose_range')),
    sa.CheckConstraint('bsa_m2 IS NULL OR CAST(bsa_m2 AS NUMERIC) > 0', name=op.f('ck_drug_administration_bsa_m2_positive')),
    sa.CheckConstraint('dose_number >= 1', name=op.f('ck_drug_administration_dose_number_range')),
    sa.CheckConstraint('ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at', name=op.f('ck_drug_administration_ended_at_after_started_at')),
    sa.CheckConstraint('height_cm IS NULL OR CAST(height_cm AS NUMERIC) > 0', name=op.f('ck_drug_administration_height_cm_positive')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_drug_administration_removed_reason_required')),
    sa.CheckConstraint('weight_kg IS NULL OR CAST(weight_kg AS NUMERIC) > 0', name=op.f('ck_drug_administration_weight_kg_positive')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_drug_administration_subject_id_subject')),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_drug_administration_visit_id_visit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drug_administration')),
    sa.UniqueConstraint('subject_id', 'agent', 'dose_number', name=op.f('uq_drug_administration_subject_id_agent_dose_number'))
    )
    with op.batch_alter_table('drug_administration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_drug_administration_subject_id'), ['subject_id'], unique=False)

    op.create_table('eligibility_criterion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('screening_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=4), nullable=False),
    sa.Column('kind', sa.String(length=9), nullable=False),
    sa.Column('status', sa.String(length=7), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('rule', sa.String(length=60), nullable=False),
    sa.Column('investigator_status', sa.String(length=7), nullable=True),
    sa.Column('investigator_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("code IN ('IN1','IN2','IN3','IN4','EX1','EX2','EX3','EX4','EX5','EX6','EX7','EX8')", name=op.f('ck_eligibility_criterion_code_vocabulary')),
    sa.CheckConstraint("investigator_status IN ('pass', 'fail', 'missing')", name=op.f('ck_eligibility_criterion_investigator_status')),
    sa.CheckConstraint("kind IN ('inclusion', 'exclusion')", name=op.f('ck_eligibility_criterion_kind')),
    sa.CheckConstraint("status IN ('pass', 'fail', 'missing')", name=op.f('ck_eligibility_criterion_status')),
    sa.CheckConstraint('NOT (investigator_status IS NOT NULL) OR investigator_reason IS NOT NULL', name=op.f('ck_eligibility_criterion_investigator_reason_required')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_eligibility_criterion_removed_reason_required')),
    sa.ForeignKeyConstraint(['screening_id'], ['screening.id'], name=op.f('fk_eligibility_criterion_screening_id_screening')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_eligibility_criterion_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_eligibility_criterion')),
    sa.UniqueConstraint('screening_id', 'code', name=op.f('uq_eligibility_criterion_screening_id_code'))
    )
    with op.batch_alter_table('eligibility_criterion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_eligibility_criterion_subject_id'), ['subject_id'], unique=False)

    op.create_table('form_status',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('form_code', sa.String(length=15), nullable=False),
    sa.Column('status', sa.String(length=11), nullable=False),
    sa.Column('updated_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.CheckConstraint("form_code IN ('consent', 'demographics', 'disease_history', 'prior_therapy', 'screening', 'virology', 'eligibility', 'labs', 'vitals', 'lymphodepletion', 'il2', 'infusion', 'crs', 'icans', 'adverse_events', 'conmeds', 'procedures', 'response', 'transplant', 'disposition', 'death', 'survival', 'deviations')", name=op.f('ck_form_status_form_code')),
    sa.CheckConstraint("status IN ('not_started', 'incomplete', 'complete')", name=op.f('ck_form_status_status')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_form_status_subject_id_subject')),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_form_status_visit_id_visit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_form_status')),
    sa.UniqueConstraint('visit_id', 'form_code', name=op.f('uq_form_status_visit_id_form_code'))
    )
    with op.batch_alter_table('form_status', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_form_status_subject_id'), ['subject_id'], unique=False)

    op.create_table('icans_assessment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('adverse_event_id', sa.Integer(), nullable=True),
    sa.Column('assessed_at', jk500db.models.types.UTCDateTime(), nullable=False),
    sa.Column('age_years', sa.Integer(), nullable=True),
    sa.Column('developmental_delay', sa.Boolean(), nullable=False),
    sa.Column('instrument', sa.String(length=4), nullable=True),
    sa.Column('ice_score', sa.Integer(), nullable=True),
    sa.Column('capd_1', sa.String(length=9), nullable=True),
    sa.Column('capd_2', sa.String(length=9), nullable=True),
    sa.Column('capd_3', sa.String(length=9), nullable=True),
    sa.Column('capd_4', sa.String(length=9), nullable=True),
    sa.Column('capd_5', sa.String(length=9), nullable=True),
    sa.Column('capd_6', sa.String(length=9), nullable=True),
    sa.Column('capd_7', sa.String(length=9), nullable=True),
    sa.Column('capd_8', sa.String(length=9), nullable=True),
    sa.Column('capd_total', sa.Integer(), nullable=True),
    sa.Column('unable_to_perform', sa.Boolean(), nullable=False),
    sa.Column('consciousness', sa.String(length=21), nullable=False),
    sa.Column('global_aphasia', sa.Boolean(), nullable=False),
    sa.Column('seizure', sa.String(length=17), nullable=False),
    sa.Column('motor_weakness', sa.Boolean(), nullable=False),
    sa.Column('raised_icp', sa.String(length=13), nullable=False),
    sa.Column('other_cause', sa.Boolean(), nullable=False),
    sa.Column('death', sa.Boolean(), nullable=False),
    sa.Column('astct_grade', sa.Integer(), nullable=True),
    sa.Column('grade_reasons', sa.Text(), nullable=True),
    sa.Column('grade_rule', sa.String(length=60), nullable=True),
    sa.Column('grade_settings', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("capd_1 IN ('never', 'rarely', 'sometimes', 'often', 'always')", name=op.f('ck_icans_assessment_capd_1')),
    sa.CheckConstraint("capd_2 IN ('never', 'rarely', 'sometimes', 'often', 'always')", name=op.f('ck_icans_assessment_capd_2')),
    sa.CheckConstraint("capd_3 IN ('never', 'rarely', 'sometimes', 'often', 'always')", name=op.f('ck_icans_assessment_capd_3')),
    sa.CheckConstraint("capd_4 IN ('never', 'rarely', 'sometimes', 'often', 'always')", name=op.f('ck_icans_assessment_capd_4')),
    sa.CheckConstraint("capd_5 IN ('never', 'rarely', 'sometimes', 'often', 'always')", name=op.f('ck_icans_assessment_capd_5')),
    sa.CheckConstraint("capd_6 IN ('never', 'rarely', 'sometimes', 'often', 'always')", name=op.f('ck_icans_assessment_capd_6')),
    sa.CheckConstraint("capd_7 IN ('never', 'rarely', 'sometimes', 'often', 'always')", name=op.f('ck_icans_assessment_capd_7')),
    sa.CheckConstraint("capd_8 IN ('never', 'rarely', 'sometimes', 'often', 'always')", name=op.f('ck_icans_assessment_capd_8')),
    sa.CheckConstraint("consciousness IN ('alert', 'awakens_spontaneously', 'awakens_to_voice', 'awakens_to_tactile', 'unarousable')", name=op.f('ck_icans_assessment_consciousness')),
    sa.CheckConstraint("instrument IN ('ice', 'capd')", name=op.f('ck_icans_assessment_instrument')),
    sa.CheckConstraint("raised_icp IN ('none', 'focal_edema', 'diffuse_edema')", name=op.f('ck_icans_assessment_raised_icp')),
    sa.CheckConstraint("seizure IN ('none', 'rapidly_resolving', 'prolonged')", name=op.f('ck_icans_assessment_seizure')),
    sa.CheckConstraint('age_years IS NULL OR (CAST(age_years AS NUMERIC) >= 0 AND CAST(age_years AS NUMERIC) <= 25)', name=op.f('ck_icans_assessment_age_years_range')),
    sa.CheckConstraint('astct_grade IS NULL OR (CAST(astct_grade AS NUMERIC) >= 0 AND CAST(astct_grade AS NUMERIC) <= 5)', name=op.f('ck_icans_assessment_astct_grade_range')),
    sa.CheckConstraint('capd_total IS NULL OR (CAST(capd_total AS NUMERIC) >= 0 AND CAST(capd_total AS NUMERIC) <= 32)', name=op.f('ck_icans_assessment_capd_total_range')),
    sa.CheckConstraint('ice_score IS NULL OR (CAST(ice_score AS NUMERIC) >= 0 AND CAST(ice_score AS NUMERIC) <= 10)', name=op.f('ck_icans_assessment_ice_score_range')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_icans_assessment_removed_reason_required')),
    sa.ForeignKeyConstraint(['adverse_event_id'], ['adverse_event.id'], name=op.f('fk_icans_assessment_adverse_event_id_adverse_event')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_icans_assessment_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_icans_assessment'))
    )
    with op.batch_alter_table('icans_assessment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_icans_assessment_adverse_event_id'), ['adverse_event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_icans_assessment_subject_id'), ['subject_id'], unique=False)

    op.create_table('infusion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('infusion_number', sa.Integer(), nullable=False),
    sa.Column('started_at', jk500db.models.types.UTCDateTime(), nullable=False),
    sa.Column('ended_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('product_lot', sa.String(length=40), nullable=False),
    sa.Column('cells_infused', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('weight_kg', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('dose_cells_per_kg', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('planned_cells_per_kg', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('viability_pct', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('volume_ml', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('premedication', sa.Text(), nullable=True),
    sa.Column('infusion_reaction', sa.Boolean(), nullable=False),
    sa.Column('completed', sa.Boolean(), nullable=False),
    sa.Column('not_completed_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint('NOT (NOT completed) OR not_completed_reason IS NOT NULL', name=op.f('ck_infusion_not_completed_reason_required')),
    sa.CheckConstraint('cells_infused IS NULL OR CAST(cells_infused AS NUMERIC) > 0', name=op.f('ck_infusion_cells_infused_positive')),
    sa.CheckConstraint('ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at', name=op.f('ck_infusion_ended_at_after_started_at')),
    sa.CheckConstraint('infusion_number >= 1', name=op.f('ck_infusion_infusion_number_range')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_infusion_removed_reason_required')),
    sa.CheckConstraint('viability_pct IS NULL OR (CAST(viability_pct AS NUMERIC) >= 0 AND CAST(viability_pct AS NUMERIC) <= 100)', name=op.f('ck_infusion_viability_pct_range')),
    sa.CheckConstraint('volume_ml IS NULL OR CAST(volume_ml AS NUMERIC) > 0', name=op.f('ck_infusion_volume_ml_positive')),
    sa.CheckConstraint('weight_kg IS NULL OR CAST(weight_kg AS NUMERIC) > 0', name=op.f('ck_infusion_weight_kg_positive')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_infusion_subject_id_subject')),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_infusion_visit_id_visit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_infusion')),
    sa.UniqueConstraint('subject_id', 'infusion_number', name=op.f('uq_infusion_subject_id_infusion_number'))
    )
    with op.batch_alter_table('infusion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_infusion_subject_id'), ['subject_id'], unique=False)

    op.create_table('lab_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('test_code', sa.String(length=8), nullable=False),
    sa.Column('specimen', sa.String(length=11), nullable=False),
    sa.Column('collected_at', jk500db.models.types.UTCDateTime(), nullable=False),
    sa.Column('value_text', sa.String(length=40), nullable=True),
    sa.Column('value', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('value_missing_reason', sa.String(length=14), nullable=True),
    sa.Column('unit', sa.String(length=20), nullable=True),
    sa.Column('lln', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('uln', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('transfusion_indicated', sa.Boolean(), nullable=False),
    sa.Column('symptomatic', sa.Boolean(), nullable=False),
    sa.Column('intervention_indicated', sa.Boolean(), nullable=False),
    sa.Column('oral_replacement_indicated', sa.Boolean(), nullable=False),
    sa.Column('hospitalization_indicated', sa.Boolean(), nullable=False),
    sa.Column('life_threatening', sa.Boolean(), nullable=False),
    sa.Column('ctcae_grade', sa.Integer(), nullable=True),
    sa.Column('ctcae_term', sa.String(length=120), nullable=True),
    sa.Column('grade_reasons', sa.Text(), nullable=True),
    sa.Column('grade_rule', sa.String(length=60), nullable=True),
    sa.Column('grade_settings', sa.Text(), nullable=True),
    sa.Column('baseline_value', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("specimen IN ('blood', 'serum', 'plasma', 'bone_marrow', 'csf')", name=op.f('ck_lab_result_specimen')),
    sa.CheckConstraint("test_code IN ('NEUT', 'PLAT', 'WBC', 'LYM', 'HGB', 'ALT', 'AST', 'BILI', 'CREAT', 'K', 'PHOS', 'FIBRINO', 'BLAST', 'CRP', 'FERRITIN', 'IL6')", name=op.f('ck_lab_result_test_code')),
    sa.CheckConstraint("value_missing_reason IN ('not_done', 'unknown', 'not_applicable')", name=op.f('ck_lab_result_value_missing_reason')),
    sa.CheckConstraint('(value IS NULL) <> (value_missing_reason IS NULL)', name=op.f('ck_lab_result_value_or_value_missing_reason')),
    sa.CheckConstraint('ctcae_grade IS NULL OR (CAST(ctcae_grade AS NUMERIC) >= 0 AND CAST(ctcae_grade AS NUMERIC) <= 5)', name=op.f('ck_lab_result_ctcae_grade_range')),
    sa.CheckConstraint('lln IS NULL OR uln IS NULL OR CAST(uln AS NUMERIC) >= CAST(lln AS NUMERIC)', name=op.f('ck_lab_result_uln_after_lln')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_lab_result_removed_reason_required')),
    sa.CheckConstraint('value IS NULL OR CAST(value AS NUMERIC) >= 0', name=op.f('ck_lab_result_value_range')),
    sa.CheckConstraint('value IS NULL OR unit IS NOT NULL', name=op.f('ck_lab_result_unit_required')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_lab_result_subject_id_subject')),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_lab_result_visit_id_visit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lab_result'))
    )
    with op.batch_alter_table('lab_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lab_result_subject_id'), ['subject_id'], unique=False)
        batch_op.create_index('ix_lab_result_subject_test_time', ['subject_id', 'test_code', 'collected_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lab_result_visit_id'), ['visit_id'], unique=False)

    op.create_table('molecular_marker',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('history_id', sa.Integer(), nullable=False),
    sa.Column('marker', sa.String(length=60), nullable=False),
    sa.Column('result', sa.String(length=13), nullable=False),
    sa.Column('vaf_pct', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("result IN ('detected', 'not_detected', 'indeterminate')", name=op.f('ck_molecular_marker_result')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_molecular_marker_removed_reason_required')),
    sa.CheckConstraint('vaf_pct IS NULL OR (CAST(vaf_pct AS NUMERIC) >= 0 AND CAST(vaf_pct AS NUMERIC) <= 100)', name=op.f('ck_molecular_marker_vaf_pct_range')),
    sa.ForeignKeyConstraint(['history_id'], ['disease_history.id'], name=op.f('fk_molecular_marker_history_id_disease_history')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_molecular_marker_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_molecular_marker'))
    )
    with op.batch_alter_table('molecular_marker', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_molecular_marker_subject_id'), ['subject_id'], unique=False)

    op.create_table('query_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('query_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('written_at', jk500db.models.types.UTCDateTime(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status_after', sa.String(length=8), nullable=False),
    sa.CheckConstraint("status_after IN ('open', 'answered', 'closed')", name=op.f('ck_query_message_status_after')),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_query_message_author_id_user_account')),
    sa.ForeignKeyConstraint(['query_id'], ['query.id'], name=op.f('fk_query_message_query_id_query')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_query_message'))
    )
    op.create_table('record_lock',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=7), nullable=False),
    sa.Column('mode', sa.String(length=6), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('form_code', sa.String(length=15), nullable=True),
    sa.Column('locked_by_id', sa.Integer(), nullable=False),
    sa.Column('locked_at', jk500db.models.types.UTCDateTime(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('unlocked_by_id', sa.Integer(), nullable=True),
    sa.Column('unlocked_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('unlock_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("(level = 'study' AND subject_id IS NULL AND visit_id IS NULL AND form_code IS NULL) OR (level = 'subject' AND subject_id IS NOT NULL AND visit_id IS NULL AND form_code IS NULL) OR (level = 'visit' AND subject_id IS NOT NULL AND visit_id IS NOT NULL AND form_code IS NULL) OR (level = 'form' AND subject_id IS NOT NULL AND form_code IS NOT NULL)", name=op.f('ck_record_lock_scope')),
    sa.CheckConstraint("form_code IN ('consent', 'demographics', 'disease_history', 'prior_therapy', 'screening', 'virology', 'eligibility', 'labs', 'vitals', 'lymphodepletion', 'il2', 'infusion', 'crs', 'icans', 'adverse_events', 'conmeds', 'procedures', 'response', 'transplant', 'disposition', 'death', 'survival', 'deviations')", name=op.f('ck_record_lock_form_code')),
    sa.CheckConstraint("level IN ('form', 'visit', 'subject', 'study')", name=op.f('ck_record_lock_level')),
    sa.CheckConstraint("mode IN ('freeze', 'lock')", name=op.f('ck_record_lock_mode')),
    sa.CheckConstraint('NOT (unlocked_at IS NOT NULL) OR unlock_reason IS NOT NULL', name=op.f('ck_record_lock_unlock_reason_required')),
    sa.ForeignKeyConstraint(['locked_by_id'], ['user_account.id'], name=op.f('fk_record_lock_locked_by_id_user_account')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_record_lock_subject_id_subject')),
    sa.ForeignKeyConstraint(['unlocked_by_id'], ['user_account.id'], name=op.f('fk_record_lock_unlocked_by_id_user_account')),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_record_lock_visit_id_visit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_record_lock'))
    )
    with op.batch_alter_table('record_lock', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_record_lock_subject_id'), ['subject_id'], unique=False)

    op.create_table('response_assessment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('assessed_on', sa.Date(), nullable=False),
    sa.Column('bm_blast_pct', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('baseline_bm_blast_pct', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('marrow_adequate', sa.Boolean(), nullable=True),
    sa.Column('bm_cellularity_pct', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('circulating_blasts', sa.Boolean(), nullable=True),
    sa.Column('extramedullary', sa.Boolean(), nullable=True),
    sa.Column('anc', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('plt', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('mrd_method', sa.String(length=4), nullable=True),
    sa.Column('mrd_pct', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('mrd_threshold_pct', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('eln_category', sa.String(length=4), nullable=True),
    sa.Column('mrd_negative', sa.Boolean(), nullable=True),
    sa.Column('eln_reasons', sa.Text(), nullable=True),
    sa.Column('eln_rule', sa.String(length=60), nullable=True),
    sa.Column('eln_settings', sa.Text(), nullable=True),
    sa.Column('investigator_category', sa.String(length=4), nullable=True),
    sa.Column('investigator_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("eln_category IN ('CR', 'CRh', 'CRi', 'MLFS', 'PR', 'NR', 'NE')", name=op.f('ck_response_assessment_eln_category')),
    sa.CheckConstraint("investigator_category IN ('CR', 'CRh', 'CRi', 'MLFS', 'PR', 'NR', 'NE')", name=op.f('ck_response_assessment_investigator_category')),
    sa.CheckConstraint("mrd_method IN ('flow', 'qpcr', 'ngs')", name=op.f('ck_response_assessment_mrd_method')),
    sa.CheckConstraint('NOT (mrd_pct IS NOT NULL) OR mrd_method IS NOT NULL', name=op.f('ck_response_assessment_mrd_method_required')),
    sa.CheckConstraint('anc IS NULL OR (CAST(anc AS NUMERIC) >= 0)', name=op.f('ck_response_assessment_anc_range')),
    sa.CheckConstraint('baseline_bm_blast_pct IS NULL OR (CAST(baseline_bm_blast_pct AS NUMERIC) >= 0 AND CAST(baseline_bm_blast_pct AS NUMERIC) <= 100)', name=op.f('ck_response_assessment_baseline_bm_blast_pct_range')),
    sa.CheckConstraint('bm_blast_pct IS NULL OR (CAST(bm_blast_pct AS NUMERIC) >= 0 AND CAST(bm_blast_pct AS NUMERIC) <= 100)', name=op.f('ck_response_assessment_bm_blast_pct_range')),
    sa.CheckConstraint('bm_cellularity_pct IS NULL OR (CAST(bm_cellularity_pct AS NUMERIC) >= 0 AND CAST(bm_cellularity_pct AS NUMERIC) <= 100)', name=op.f('ck_response_assessment_bm_cellularity_pct_range')),
    sa.CheckConstraint('investigator_category IS NULL OR eln_category IS NULL OR investigator_category = eln_category OR investigator_reason IS NOT NULL', name=op.f('ck_response_assessment_investigator_reason_required')),
    sa.CheckConstraint('mrd_pct IS NULL OR (CAST(mrd_pct AS NUMERIC) >= 0 AND CAST(mrd_pct AS NUMERIC) <= 100)', name=op.f('ck_response_assessment_mrd_pct_range')),
    sa.CheckConstraint('mrd_threshold_pct IS NULL OR (CAST(mrd_threshold_pct AS NUMERIC) >= 0 AND CAST(mrd_threshold_pct AS NUMERIC) <= 100)', name=op.f('ck_response_assessment_mrd_threshold_pct_range')),
    sa.CheckConstraint('plt IS NULL OR (CAST(plt AS NUMERIC) >= 0)', name=op.f('ck_response_assessment_plt_range')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_response_assessment_removed_reason_required')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_response_assessment_subject_id_subject')),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_response_assessment_visit_id_visit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_response_assessment'))
    )
    with op.batch_alter_table('response_assessment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_response_assessment_subject_id'), ['subject_id'], unique=False)

    op.create_table('sdv_mark',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('form_code', sa.String(length=15), nullable=False),
    sa.Column('verified_by_id', sa.Integer(), nullable=False),
    sa.Column('verified_at', jk500db.models.types.UTCDateTime(), nullable=False),
    sa.Column('cleared_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('cleared_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("form_code IN ('consent', 'demographics', 'disease_history', 'prior_therapy', 'screening', 'virology', 'eligibility', 'labs', 'vitals', 'lymphodepletion', 'il2', 'infusion', 'crs', 'icans', 'adverse_events', 'conmeds', 'procedures', 'response', 'transplant', 'disposition', 'death', 'survival', 'deviations')", name=op.f('ck_sdv_mark_form_code')),
    sa.CheckConstraint('NOT (cleared_at IS NOT NULL) OR cleared_reason IS NOT NULL', name=op.f('ck_sdv_mark_cleared_reason_required')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_sdv_mark_subject_id_subject')),
    sa.ForeignKeyConstraint(['verified_by_id'], ['user_account.id'], name=op.f('fk_sdv_mark_verified_by_id_user_account')),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_sdv_mark_visit_id_visit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sdv_mark'))
    )
    with op.batch_alter_table('sdv_mark', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sdv_mark_subject_id'), ['subject_id'], unique=False)

    op.create_table('virology_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('screening_id', sa.Integer(), nullable=False),
    sa.Column('test', sa.String(length=6), nullable=False),
    sa.Column('result', sa.String(length=13), nullable=True),
    sa.Column('result_missing_reason', sa.String(length=14), nullable=True),
    sa.Column('sampled_on', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("result IN ('positive', 'negative', 'indeterminate')", name=op.f('ck_virology_result_result')),
    sa.CheckConstraint("result_missing_reason IN ('not_done', 'unknown', 'not_applicable')", name=op.f('ck_virology_result_result_missing_reason')),
    sa.CheckConstraint("test IN ('hiv_ab', 'hbsag', 'hbeag', 'hcv_ab', 'tp_ab')", name=op.f('ck_virology_result_test')),
    sa.CheckConstraint('(result IS NULL) <> (result_missing_reason IS NULL)', name=op.f('ck_virology_result_result_or_result_missing_reason')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_virology_result_removed_reason_required')),
    sa.ForeignKeyConstraint(['screening_id'], ['screening.id'], name=op.f('fk_virology_result_screening_id_screening')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_virology_result_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_virology_result')),
    sa.UniqueConstraint('screening_id', 'test', name=op.f('uq_virology_result_screening_id_test'))
    )
    with op.batch_alter_table('virology_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_virology_result_subject_id'), ['subject_id'], unique=False)

    op.create_table('crs_vasopressor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('assessment_id', sa.Integer(), nullable=False),
    sa.Column('drug', sa.String(length=14), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("drug IN ('norepinephrine', 'epinephrine', 'dopamine', 'phenylephrine', 'vasopressin')", name=op.f('ck_crs_vasopressor_drug')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_crs_vasopressor_removed_reason_required')),
    sa.ForeignKeyConstraint(['assessment_id'], ['crs_assessment.id'], name=op.f('fk_crs_vasopressor_assessment_id_crs_assessment')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_crs_vasopressor_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crs_vasopressor')),
    sa.UniqueConstraint('assessment_id', 'drug', name=op.f('uq_crs_vasopressor_assessment_id_drug'))
    )
    with op.batch_alter_table('crs_vasopressor', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crs_vasopressor_subject_id'), ['subject_id'], unique=False)

    op.create_table('vital_signs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('infusion_id', sa.Integer(), nullable=True),
    sa.Column('timepoint', sa.String(length=13), nullable=False),
    sa.Column('measured_at', jk500db.models.types.UTCDateTime(), nullable=False),
    sa.Column('temperature_c', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('heart_rate', sa.Integer(), nullable=True),
    sa.Column('respiratory_rate', sa.Integer(), nullable=True),
    sa.Column('systolic_bp', sa.Integer(), nullable=True),
    sa.Column('diastolic_bp', sa.Integer(), nullable=True),
    sa.Column('spo2_pct', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('weight_kg', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('height_cm', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('bsa_m2', jk500db.models.types.ExactDecimal(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('removed_at', jk500db.models.types.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("NOT (timepoint <> 'routine') OR infusion_id IS NOT NULL", name=op.f('ck_vital_signs_infusion_id_required')),
    sa.CheckConstraint("timepoint IN ('pre_infusion', 'post_infusion', 'routine')", name=op.f('ck_vital_signs_timepoint')),
    sa.CheckConstraint('diastolic_bp IS NULL OR (CAST(diastolic_bp AS NUMERIC) >= 10 AND CAST(diastolic_bp AS NUMERIC) <= 250)', name=op.f('ck_vital_signs_diastolic_bp_range')),
    sa.CheckConstraint('heart_rate IS NULL OR (CAST(heart_rate AS NUMERIC) >= 1 AND CAST(heart_rate AS NUMERIC) <= 300)', name=op.f('ck_vital_signs_heart_rate_range')),
    sa.CheckConstraint('height_cm IS NULL OR CAST(height_cm AS NUMERIC) > 0', name=op.f('ck_vital_signs_height_cm_positive')),
    sa.CheckConstraint('removed_at IS NULL OR removed_reason IS NOT NULL', name=op.f('ck_vital_signs_removed_reason_required')),
    sa.CheckConstraint('respiratory_rate IS NULL OR (CAST(respiratory_rate AS NUMERIC) >= 1 AND CAST(respiratory_rate AS NUMERIC) <= 150)', name=op.f('ck_vital_signs_respiratory_rate_range')),
    sa.CheckConstraint('spo2_pct IS NULL OR (CAST(spo2_pct AS NUMERIC) >= 0 AND CAST(spo2_pct AS NUMERIC) <= 100)', name=op.f('ck_vital_signs_spo2_pct_range')),
    sa.CheckConstraint('systolic_bp IS NULL OR (CAST(systolic_bp AS NUMERIC) >= 20 AND CAST(systolic_bp AS NUMERIC) <= 300)', name=op.f('ck_vital_signs_systolic_bp_range')),
    sa.CheckConstraint('temperature_c IS NULL OR (CAST(temperature_c AS NUMERIC) >= 25 AND CAST(temperature_c AS NUMERIC) <= 45)', name=op.f('ck_vital_signs_temperature_c_range')),
    sa.CheckConstraint('weight_kg IS NULL OR CAST(weight_kg AS NUMERIC) > 0', name=op.f('ck_vital_signs_weight_kg_positive')),
    sa.ForeignKeyConstraint(['infusion_id'], ['infusion.id'], name=op.f('fk_vital_signs_infusion_id_infusion')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_vital_signs_subject_id_subject')),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_vital_signs_visit_id_visit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vital_signs'))
    )
    with op.batch_alter_table('vital_signs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vital_signs_subject_id'), ['subject_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('vital_signs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vital_signs_subject_id'))

    op.drop_table('vital_signs')
    with op.batch_alter_table('crs_vasopressor', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crs_vasopressor_subject_id'))

    op.drop_table('crs_vasopressor')
    with op.batch_alter_table('virology_result', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_virology_result_subject_id'))

    op.drop_table('virology_result')
    with op.batch_alter_table('sdv_mark', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sdv_mark_subject_id'))

    op.drop_table('sdv_mark')
    with op.batch_alter_table('response_assessment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_response_assessment_subject_id'))

    op.drop_table('response_assessment')
    with op.batch_alter_table('record_lock', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_record_lock_subject_id'))

    op.drop_table('record_lock')
    op.drop_table('query_message')
    with op.batch_alter_table('molecular_marker', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_molecular_marker_subject_id'))

    op.drop_table('molecular_marker')
    with op.batch_alter_table('lab_result', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lab_result_visit_id'))
        batch_op.drop_index('ix_lab_result_subject_test_time')
        batch_op.drop_index(batch_op.f('ix_lab_result_subject_id'))

    op.drop_table('lab_result')
    with op.batch_alter_table('infusion', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_infusion_subject_id'))

    op.drop_table('infusion')
    with op.batch_alter_table('icans_assessment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_icans_assessment_subject_id'))
        batch_op.drop_index(batch_op.f('ix_icans_assessment_adverse_event_id'))

    op.drop_table('icans_assessment')
    with op.batch_alter_table('form_status', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_form_status_subject_id'))

    op.drop_table('form_status')
    with op.batch_alter_table('eligibility_criterion', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_eligibility_criterion_subject_id'))

    op.drop_table('eligibility_criterion')
    with op.batch_alter_table('drug_administration', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drug_administration_subject_id'))

    op.drop_table('drug_administration')
    with op.batch_alter_table('death', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_death_subject_id'))

    op.drop_table('death')
    with op.batch_alter_table('crs_assessment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crs_assessment_subject_id'))
        batch_op.drop_index(batch_op.f('ix_crs_assessment_adverse_event_id'))

    op.drop_table('crs_assessment')
    with op.batch_alter_table('concomitant_medication', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_concomitant_medication_subject_id'))

    op.drop_table('concomitant_medication')
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visit_subject_id'))

    op.drop_table('visit')
    with op.batch_alter_table('transplant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transplant_subject_id'))

    op.drop_table('transplant')
    with op.batch_alter_table('survival_follow_up', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survival_follow_up_subject_id'))

    op.drop_table('survival_follow_up')
    with op.batch_alter_table('signature', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signature_subject_id'))
        batch_op.drop_index('ix_signature_record')

    op.drop_table('signature')
    with op.batch_alter_table('screening', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_screening_subject_id'))

    op.drop_table('screening')
    with op.batch_alter_table('query', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_query_subject_id'))
        batch_op.drop_index('ix_query_record')

    op.drop_table('query')
    with op.batch_alter_table('protocol_deviation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_protocol_deviation_subject_id'))

    op.drop_table('protocol_deviation')
    with op.batch_alter_table('procedure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_procedure_subject_id'))

    op.drop_table('procedure')
    with op.batch_alter_table('prior_therapy', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prior_therapy_subject_id'))

    op.drop_table('prior_therapy')
    op.drop_table('expected_form')
    with op.batch_alter_table('end_of_study', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_end_of_study_subject_id'))

    op.drop_table('end_of_study')
    with op.batch_alter_table('disease_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disease_history_subject_id'))

    op.drop_table('disease_history')
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_subject_id'))

    op.drop_table('consent')
    with op.batch_alter_table('adverse_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_adverse_event_subject_id'))

    op.drop_table('adverse_event')
    op.drop_table('visit_definition')
    op.drop_table('user_site')
    with op.batch_alter_table('subject', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subject_site_id'))

    op.drop_table('subject')
    op.drop_table('security_event')
    op.drop_table('rule_setting')
    op.drop_table('regimen_item')
    op.drop_table('export_record')
    op.drop_table('user_account')
    op.drop_table('study_definition_version')
    op.drop_table('site')
    op.drop_table('protocol_version')
    op.drop_table('study')
    op.drop_table('role')
    op.drop_table('ctcae_term')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_subject_id'))
        batch_op.drop_index('ix_audit_event_record')

    op.drop_table('audit_event')
