"""customers' data: erasure requests, erased identities (keyed hashes), redactions, kept chat messages

Four new tables (storage/models_privacy.py); nothing existing changes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 07:46:05.485017
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel
import storage.types


revision: str = '0012'
down_revision: Union[str, None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('customer_message',
    sa.Column('outbox_id', sa.Integer(), nullable=False),
    sa.Column('marked_at', storage.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('outbox_id')
    )
    op.create_table('erased_identity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('key_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('erased_at', storage.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'digest', name='uq_erased_identity')
    )
    op.create_table('erasure_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=True),
    sa.Column('requested_via', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('requested_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('locked_until', storage.types.UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('done_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('counts', sa.JSON(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['requested_by'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('erasure_request', schema=None) as batch_op:
        batch_op.create_index('ix_erasure_request_status', ['status', 'id'], unique=False)

    op.create_table('response_redaction',
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('details_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('comment_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('raw_at', storage.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['response_id'], ['survey_response.id'], ),
    sa.PrimaryKeyConstraint('response_id')
    )


def downgrade() -> None:
    op.drop_table('response_redaction')
    with op.batch_alter_table('erasure_request', schema=None) as batch_op:
        batch_op.drop_index('ix_erasure_request_status')

    op.drop_table('erasure_request')
    op.drop_table('erased_identity')
    op.drop_table('customer_message')
