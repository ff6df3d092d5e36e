"""The outgoing webhook: cxloop's events (bot/followup/outgoing.py), signed and delivered over HTTP."""
