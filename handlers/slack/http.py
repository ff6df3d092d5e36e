"""Slack over HTTP: one URL for events, slash commands and interactivity."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

SLACK_APP = web.AppKey("slack_app", AsyncApp)
SLACK_INBOX = web.AppKey("slack_inbox", object)


async def slack_events(request: web.Request) -> web.Response:
    inbox: Any = request.app.get(SLACK_INBOX)
    if inbox is not None:
        # Commands, clicks and events with a good signature are stored and acknowledged here.
        raw = await request.text()
        if inbox.take(raw, request.headers):
            return web.Response(status=200, text="")
    app = request.app[SLACK_APP]
    bolt_req = await to_bolt_request(request)
    bolt_resp = await app.async_dispatch(bolt_req)
    return await to_aiohttp_response(bolt_resp)


def add_routes(app: web.Application, slack_app: AsyncApp, inbox: Any = None) -> None:
    app[SLACK_APP] = slack_app
    if inbox is not None:
        app[SLACK_INBOX] = inbox
    app.router.add_post("/slack/events", slack_events)
