"""side_identities: which records each side of a connection is

Links and bases hold only record ids. Two configs that share one PostgreSQL database
and a connection name read each other's links as their own, and each run forgets the
other's pairs (a held conflict comes back as new; a forced run would delete the other
pairing's records). Each side's identity (a file's absolute path, a GHL location id)
is kept per connection now, and a run whose side is another one is refused. A database
from before this migration has no rows: its next run adopts the sides it syncs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('side_identities',
    sa.Column('connection', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('side', sqlmodel.sql.sqltypes.AutoString(length=1), nullable=False),
    sa.Column('identity', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('connection', 'side')
    )


def downgrade() -> None:
    op.drop_table('side_identities')
