"""Follow-through on cases: reminders, overdue notices, escalations, unclaimed prompts, chasing an owner."""
