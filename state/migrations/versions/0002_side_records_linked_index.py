"""side_records: an index on linked

Records waiting for a link (``linked`` false) are looked up every run, and the delete
guard counts linked ones: both were full scans of the base.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 20:40:00
"""

from __future__ import annotations

from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('side_records', schema=None) as batch_op:
        batch_op.create_index(
            'ix_side_records_linked', ['connection', 'side', 'entity', 'linked'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('side_records', schema=None) as batch_op:
        batch_op.drop_index('ix_side_records_linked')
