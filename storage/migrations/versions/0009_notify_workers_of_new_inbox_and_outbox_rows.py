"""notify workers of new inbox and outbox rows (PostgreSQL)

On PostgreSQL, every statement that inserts into `inbox` or `outbox` sends a notification
(`cxloop_inbox`, `cxloop_outbox`) when its transaction commits, whichever code path inserted, so
workers that LISTEN (storage/listen.py) wake at once instead of at their next poll. SQLite has no
notifications: there the workers poll, and this migration does nothing.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 05:30:00
"""
from typing import Sequence, Union

from alembic import op


revision: str = '0009'
down_revision: Union[str, None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The channel names are storage.listen.INBOX_CHANNEL and OUTBOX_CHANNEL (kept literal here, as a
# migration must not change when the code does).
TRIGGERS = {"inbox": "cxloop_inbox", "outbox": "cxloop_outbox"}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE OR REPLACE FUNCTION cxloop_notify_new_rows() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- One notification per statement, sent at commit; identical ones in a transaction fold into one.
            PERFORM pg_notify(TG_ARGV[0], '');
            RETURN NULL;
        END
        $$
    """)
    for table, channel in TRIGGERS.items():
        op.execute(f"""
            CREATE TRIGGER {table}_notify_new_rows AFTER INSERT ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION cxloop_notify_new_rows('{channel}')
        """)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify_new_rows ON {table}")
    op.execute("DROP FUNCTION IF EXISTS cxloop_notify_new_rows()")
