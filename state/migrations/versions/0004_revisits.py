"""revisits: records to look at again next run, apart from quarantine

A create refused by a side as a duplicate of a record it already had is linked to that
record with no base, to be merged as a fresh match next run. That flag was a quarantine
row, so healthy records were listed as quarantined; it has a table of its own now, and
such quarantine rows move into it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

MERGE_NEXT = "linked to a record the side already had; fields merge next run"


def upgrade() -> None:
    op.create_table('revisits',
    sa.Column('connection', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('side', sqlmodel.sql.sqltypes.AutoString(length=1), nullable=False),
    sa.Column('entity', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('record_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('connection', 'side', 'entity', 'record_id')
    )
    op.execute(
        sa.text(
            "INSERT INTO revisits (connection, side, entity, record_id, reason, since) "
            "SELECT connection, side, entity, record_id, reason, first_seen FROM quarantine "
            "WHERE reason = :reason"
        ).bindparams(reason=MERGE_NEXT)
    )
    op.execute(sa.text("DELETE FROM quarantine WHERE reason = :reason").bindparams(reason=MERGE_NEXT))


def downgrade() -> None:
    op.execute(
        "INSERT INTO quarantine "
        "(connection, side, entity, record_id, reason, attempts, first_seen, last_seen) "
        "SELECT connection, side, entity, record_id, reason, 1, since, since FROM revisits"
    )
    op.drop_table('revisits')
