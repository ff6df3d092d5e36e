"""members: when each last opened cxloop's App Home (refreshes go only to Homes people are looking at)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 12:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import storage.types


revision: str = '0013'
down_revision: Union[str, None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('home_opened_at', storage.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_column('home_opened_at')
