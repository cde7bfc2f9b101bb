"""side_records: partial indexes

Records waiting for a link (``NOT linked``) are looked up every run, and were a full
scan of the base. Most rows of the base are contacts (no ``parent_id``) with a single
match key (no ``key2``): indexing only the rows that have a value keeps those indexes
small and spares every write of the base the upkeep of entries nobody looks up. The
queries on them constrain the column (``IN``, ``=``, ``NOT linked``), which is what
lets SQLite and PostgreSQL use a partial index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 20:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

COLS = ['connection', 'side', 'entity']


def upgrade() -> None:
    with op.batch_alter_table('side_records', schema=None) as batch_op:
        batch_op.drop_index('ix_side_records_key2')
        batch_op.drop_index('ix_side_records_parent')
    op.create_index(
        'ix_side_records_key2', 'side_records', [*COLS, 'key2'],
        sqlite_where=sa.text('key2 IS NOT NULL'), postgresql_where=sa.text('key2 IS NOT NULL'),
    )
    op.create_index(
        'ix_side_records_parent', 'side_records', [*COLS, 'parent_id'],
        sqlite_where=sa.text('parent_id IS NOT NULL'),
        postgresql_where=sa.text('parent_id IS NOT NULL'),
    )
    op.create_index(
        'ix_side_records_unlinked', 'side_records', [*COLS, 'record_id'],
        sqlite_where=sa.text('NOT linked'), postgresql_where=sa.text('NOT linked'),
    )


def downgrade() -> None:
    op.drop_index('ix_side_records_unlinked', 'side_records')
    op.drop_index('ix_side_records_parent', 'side_records')
    op.drop_index('ix_side_records_key2', 'side_records')
    op.create_index('ix_side_records_key2', 'side_records', [*COLS, 'key2'])
    op.create_index('ix_side_records_parent', 'side_records', [*COLS, 'parent_id'])
