"""Slack over HTTP: one URL for events, slash commands and interactivity."""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

SLACK_APP = web.AppKey("slack_app", AsyncApp)


async def slack_events(request: web.Request) -> web.Response:
    app = request.app[SLACK_APP]
    bolt_req = await to_bolt_request(request)
    bolt_resp = await app.async_dispatch(bolt_req)
    return await to_aiohttp_response(bolt_resp)


def add_routes(app: web.Application, slack_app: AsyncApp) -> None:
    app[SLACK_APP] = slack_app
    app.router.add_post("/slack/events", slack_events)
