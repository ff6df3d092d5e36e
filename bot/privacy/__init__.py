"""Customers' data: export on request, erase everywhere it went, keep it only as long as configured.

- keys.py: the erasure key and the keyed hashes erased customers are remembered by;
- text.py: what identifies a customer in free text, and scrubbing it out of messages and payloads;
- holdings.py: everything held about one customer (or a batch of responses), found in every table;
- chat.py: the chat messages that showed them (the outbox), edited through the outbox; the inbox;
- erase.py: erasing, on request or for a retention window; export.py: the JSON document;
- retention.py: the windows (run by bot/machinery/housekeeping.py); guard.py: intake refuses an erased
  customer's old answers; visibility.py: who sees full contact details;
- commands.py, actions.py, requests.py, due.py: `/cx privacy erase`, its confirmation dialog, the
  queued request and the due job that carries it out.
"""
