"""lab runs: assays, plates and their wells, run files, well results, lab settings

Each part of the change has its own function below; ``upgrade`` runs them in order.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def _assays_upgrade() -> None:
    """Assay (kit) definitions, one row per version, the definition as a JSON document
    (docs/LAB.md). One version is current: a partial unique index keeps it one. The default
    assay is written by the application the first time a plate is made, not here: a
    migration does not carry the domain's definitions."""
    op.create_table(
        "assays",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(60), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "version", name=op.f("pk_assays")),
    )
    op.create_index("uq_assays_current", "assays", ["is_current"], unique=True,
                    sqlite_where=sa.text("is_current"), postgresql_where=sa.text("is_current"))


def _assays_downgrade() -> None:
    op.drop_index("uq_assays_current", table_name="assays")
    op.drop_table("assays")


def _runs_upgrade() -> None:
    """Runs: the instrument export files (their bytes and SHA-256, once per lab), the plates
    (building → ready → imported → released, who did each), the plate map (a tube once per
    plate, or a control, per well) and the result of every well of an imported run."""
    op.create_table(
        "run_files",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("lab_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("instrument", sa.String(100), nullable=True),
        sa.Column("instrument_serial", sa.String(60), nullable=True),
        sa.Column("software", sa.String(100), nullable=True),
        sa.Column("run_name", sa.String(200), nullable=True),
        sa.Column("uploaded_by", sa.String(32), nullable=False),
        sa.Column("uploaded_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_run_files_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_files")),
        sa.UniqueConstraint("lab_id", "sha256", name="uq_run_files_lab_sha256"),
    )
    op.create_table(
        "plates",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("lab_id", sa.String(32), nullable=False),
        sa.Column("assay_id", sa.String(64), nullable=False),
        sa.Column("assay_version", sa.Integer(), nullable=False),
        sa.Column("size", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("ready_by", sa.String(32), nullable=True),
        sa.Column("ready_at", sa.BigInteger(), nullable=True),
        sa.Column("run_file_id", sa.String(32), nullable=True),
        sa.Column("imported_by", sa.String(32), nullable=True),
        sa.Column("imported_at", sa.BigInteger(), nullable=True),
        sa.Column("qc_passed", sa.Boolean(), nullable=True),
        sa.Column("released_by", sa.String(32), nullable=True),
        sa.Column("released_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["assay_id", "assay_version"], ["assays.id", "assays.version"],
                                name="fk_plates_assay_assays"),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_plates_lab_id_labs")),
        sa.ForeignKeyConstraint(["run_file_id"], ["run_files.id"],
                                name=op.f("fk_plates_run_file_id_run_files")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plates")),
        sa.UniqueConstraint("run_file_id", name=op.f("uq_plates_run_file_id")),
    )
    op.create_index("ix_plates_lab_status", "plates", ["lab_id", "status"], unique=False)
    op.create_table(
        "plate_wells",
        sa.Column("plate_id", sa.String(32), nullable=False),
        sa.Column("well", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("tube_id", sa.String(32), nullable=True),
        sa.Column("placed_by", sa.String(32), nullable=False),
        sa.Column("placed_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["plate_id"], ["plates.id"],
                                name=op.f("fk_plate_wells_plate_id_plates")),
        sa.ForeignKeyConstraint(["tube_id"], ["tubes.id"],
                                name=op.f("fk_plate_wells_tube_id_tubes")),
        sa.PrimaryKeyConstraint("plate_id", "well", name=op.f("pk_plate_wells")),
        sa.UniqueConstraint("plate_id", "tube_id", name="uq_plate_wells_plate_tube"),
    )
    op.create_index("ix_plate_wells_tube", "plate_wells", ["tube_id"], unique=False)
    op.create_table(
        "well_results",
        sa.Column("plate_id", sa.String(32), nullable=False),
        sa.Column("well", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("tube_id", sa.String(32), nullable=True),
        sa.Column("sample_name", sa.String(100), nullable=True),
        sa.Column("cts", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("assay_id", sa.String(64), nullable=False),
        sa.Column("assay_version", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.SmallInteger(), nullable=True),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("decision", sa.String(8), nullable=True),
        sa.Column("result", sa.String(10), nullable=True),
        sa.Column("result_log_id", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(["plate_id"], ["plates.id"],
                                name=op.f("fk_well_results_plate_id_plates")),
        sa.ForeignKeyConstraint(["tube_id"], ["tubes.id"],
                                name=op.f("fk_well_results_tube_id_tubes")),
        sa.PrimaryKeyConstraint("plate_id", "well", name=op.f("pk_well_results")),
    )
    op.create_index("ix_well_results_result_log", "well_results", ["result_log_id"],
                    unique=False)
    op.create_index("ix_well_results_tube", "well_results", ["tube_id"], unique=False)


def _runs_downgrade() -> None:
    op.drop_index("ix_well_results_tube", table_name="well_results")
    op.drop_index("ix_well_results_result_log", table_name="well_results")
    op.drop_table("well_results")
    op.drop_index("ix_plate_wells_tube", table_name="plate_wells")
    op.drop_table("plate_wells")
    op.drop_index("ix_plates_lab_status", table_name="plates")
    op.drop_table("plates")
    op.drop_table("run_files")


def _settings_upgrade() -> None:
    """A lab's settings an administrator sets (audited): whether one person may release."""
    op.create_table(
        "lab_settings",
        sa.Column("lab_id", sa.String(32), nullable=False),
        sa.Column("one_person_release", sa.Boolean(), nullable=False),
        sa.Column("set_by", sa.String(60), nullable=False),
        sa.Column("set_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"],
                                name=op.f("fk_lab_settings_lab_id_labs")),
        sa.PrimaryKeyConstraint("lab_id", name=op.f("pk_lab_settings")),
    )


def _settings_downgrade() -> None:
    op.drop_table("lab_settings")


def upgrade() -> None:
    _assays_upgrade()
    _runs_upgrade()
    _settings_upgrade()


def downgrade() -> None:
    """Each part undoes its own upgrade, in reverse order."""
    _settings_downgrade()
    _runs_downgrade()
    _assays_downgrade()
