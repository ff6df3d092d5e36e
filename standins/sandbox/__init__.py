"""`cxloop sandbox`: Slack and Teams in a browser, over the local stand-ins, driving the real cxloop.

- `world.py` starts everything on 127.0.0.1: cxloop's own server (the same `build_services` and
  `build_web_app` as `cxloop serve`) on a fresh SQLite file with the bundled sample, the Slack
  Web API stand-in, the Bot Connector stand-in, and a clock the page can move.
- `slack_side.py` and `teams_side.py` read what the stand-ins recorded, as one person sees it, and
  send what Slack or the Bot Connector would send for a click, a form, a command or an event.
- `api.py` serves the page (`static/`) and its JSON and server-sent-events API.

The sandbox is a client of cxloop's HTTP interface like Slack and Teams are: nothing in cxloop
knows it is there.
"""

from standins.sandbox.world import Sandbox, SandboxClock

__all__ = ["Sandbox", "SandboxClock"]
