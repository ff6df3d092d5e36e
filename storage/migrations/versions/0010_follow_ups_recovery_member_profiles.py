"""follow-ups, recovery links, member profiles, customer look-up indexes

Follow-ups with passives and promoters (`follow_up`, `follow_up_step`), the link from a case to the
customer's first answer after its loop was closed (`case_recovery`), names learned from chat
profiles (`member_profile`), and two indexes to find a customer's earlier answers: by customer id,
and by email whatever its case (an expression index, which SQLite and PostgreSQL both support).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 07:44:29.931992
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel
import storage.types


revision: str = '0010'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('follow_up',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('team', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('due_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('claimed_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('done_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('listed_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['response_id'], ['survey_response.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('response_id')
    )
    with op.batch_alter_table('follow_up', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_follow_up_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_follow_up_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_follow_up_status'), ['status'], unique=False)
        batch_op.create_index('ix_follow_up_team_listing', ['team', 'listed_key', 'created_at'], unique=False)

    op.create_table('member_profile',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('real_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('updated_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('member_id', 'platform', name='uq_member_profile')
    )
    with op.batch_alter_table('member_profile', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_profile_member_id'), ['member_id'], unique=False)

    op.create_table('case_recovery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('matched_by', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('before_survey', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('before_score', sa.Integer(), nullable=False),
    sa.Column('after_survey', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('after_score', sa.Integer(), nullable=False),
    sa.Column('recovered', sa.Boolean(), nullable=False),
    sa.Column('at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cx_case.id'], ),
    sa.ForeignKeyConstraint(['response_id'], ['survey_response.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id'),
    sa.UniqueConstraint('response_id')
    )
    with op.batch_alter_table('case_recovery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_recovery_at'), ['at'], unique=False)

    op.create_table('follow_up_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('follow_up_id', sa.Integer(), nullable=False),
    sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('done_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['follow_up_id'], ['follow_up.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('follow_up_id', 'step', name='uq_follow_up_step_once')
    )
    with op.batch_alter_table('follow_up_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_step_follow_up_id'), ['follow_up_id'], unique=False)

    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.create_index('ix_response_customer_id', ['customer_id'], unique=False)
    op.create_index('ix_response_customer_email', 'survey_response', [sa.text('lower(customer_email)')], unique=False)



def downgrade() -> None:
    op.drop_index('ix_response_customer_email', table_name='survey_response')
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.drop_index('ix_response_customer_id')

    with op.batch_alter_table('follow_up_step', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_follow_up_step_follow_up_id'))

    op.drop_table('follow_up_step')
    with op.batch_alter_table('case_recovery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_recovery_at'))

    op.drop_table('case_recovery')
    with op.batch_alter_table('member_profile', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_profile_member_id'))

    op.drop_table('member_profile')
    with op.batch_alter_table('follow_up', schema=None) as batch_op:
        batch_op.drop_index('ix_follow_up_team_listing')
        batch_op.drop_index(batch_op.f('ix_follow_up_status'))
        batch_op.drop_index(batch_op.f('ix_follow_up_owner_id'))
        batch_op.drop_index(batch_op.f('ix_follow_up_due_at'))
        batch_op.drop_index(batch_op.f('ix_follow_up_created_at'))

    op.drop_table('follow_up')
