"""The machinery under every feature: the runtime, the outbox, the inbox, due-job claims, pacing, housekeeping."""
