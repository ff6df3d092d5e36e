"""Who may talk to /api/messages: Bot Framework tokens checked against the published keys, or nothing at all."""

from __future__ import annotations

import logging

import aiohttp
from sqlmodel import Session, select

from bot.config import Settings
from bot.intake.store import record_response
from bot.machinery.runtime import Runtime
from bot.people.roster import sync_workspace
from handlers.serve import build_services
from handlers.server import build_web_app
from standins.teams_cards import text_of
from storage.db import session_scope
from storage.models import ConversationRef, ProcessedEvent
from tests.teams_harness import (
    ALICE,
    APP_ID,
    SUPPORT,
    TEAM,
    TeamsHarness,
    teams_workspace,
)
from tests.test_teams_flow import detractor


def install_activity(cx: TeamsHarness) -> dict:
    return cx.teams.envelope(cx.teams.users[ALICE], TEAM, type="conversationUpdate", eventType="teamMemberAdded",
                              membersAdded=[{"id": cx.teams.bot_id}])


def nothing_stored(engine) -> bool:
    with Session(engine) as s:
        return not s.exec(select(ConversationRef)).all() and not s.exec(select(ProcessedEvent)).all()


async def test_requests_without_a_good_token_are_refused_with_401_and_change_nothing(engine):
    async with TeamsHarness(engine) as cx:
        activity = install_activity(cx)
        bad = {
            "missing": None,
            "garbage": "not-a-jwt",
            "forged": cx.teams.forged_token(),  # right claims, a key the Bot Framework never published
            "expired": cx.teams.channel_token(expires_in=-600),
            "another bot": cx.teams.channel_token(audience="11111111-2222-4333-8444-555555555555"),
            "another service URL": cx.teams.channel_token(service_url="https://evil.example/amer/"),
            "another issuer": cx.teams.channel_token(issuer="https://sts.windows.net/evil/"),
        }
        for why, token in bad.items():
            status, _ = await cx.teams.post(cx.bot_url, activity, token=token)
            assert status == 401, why
        assert nothing_stored(engine)
        status, _ = await cx.teams.post(cx.bot_url, activity)  # a good token
        assert status == 200
        assert {r.conversation_id for r in cx.refs()} >= {TEAM, SUPPORT}
        # the signing keys came from the stand-in's OpenID metadata, not from Microsoft
        assert cx.teams.calls_to("openid") and cx.teams.calls_to("keys")


async def test_cxloop_posts_with_a_token_from_the_token_service(engine):
    async with TeamsHarness(engine) as cx:
        await cx.install()
        record_response(engine, cx.ws, detractor())
        assert await cx.deliver() == 1
        (token_call, *_) = cx.teams.calls_to("token")
        assert token_call.body["client_id"] == APP_ID and token_call.body["grant_type"] == "client_credentials"
        assert all(c.headers.get("Authorization", "").startswith("Bearer ") for c in cx.teams.calls_to("send"))
        assert not cx.teams.rejected


async def test_a_rotated_secret_holds_messages_back_instead_of_losing_them(engine):
    async with TeamsHarness(engine, welcome=False) as cx:
        await cx.install()
        cx.teams.app_password = "rotated-in-azure"
        record_response(engine, cx.ws, detractor())
        assert await cx.deliver() == 0
        (row,) = [o for o in cx.outbox() if o.platform == "teams"]
        assert row.status == "pending" and "token" in row.last_error
        assert cx.teams.posts(SUPPORT) == []


async def test_unreachable_signing_keys_answer_503_so_the_bot_framework_retries(engine):
    async with TeamsHarness(engine, auth_overrides={"openid_metadata_url": "http://127.0.0.1:9/nothing"}) as cx:
        status, _ = await cx.teams.post(cx.bot_url, install_activity(cx))
        assert status == 503
        assert nothing_stored(engine)


async def test_no_auth_mode_is_explicit_loud_and_only_talks_to_this_machine(engine, caplog):
    caplog.set_level(logging.WARNING)
    async with TeamsHarness(engine, auth=False) as cx:
        assert "TEAMS AUTHENTICATION IS OFF" in caplog.text
        await cx.install()  # no token at all
        chat = await cx.teams.install_personal(cx.bot_url, ALICE)
        await cx.teams.message(cx.bot_url, ALICE, "cx help", conversation=chat)
        assert "cx mine" in text_of(cx.teams.activities(chat)[-1])
        assert not any("Authorization" in c.headers for c in cx.teams.calls_to("send"))
        elsewhere = install_activity(cx)
        elsewhere["serviceUrl"] = "https://smba.trafficmanager.net/amer/"
        status, _ = await cx.teams.post(cx.bot_url, elsewhere)
        assert status == 403


async def test_without_an_app_id_teams_is_off_and_api_messages_is_not_served(engine, monkeypatch):
    from aiohttp.test_utils import TestServer

    monkeypatch.delenv("TEAMS_ALLOW_NO_AUTH", raising=False)
    ws = teams_workspace()
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    settings = Settings()
    services = build_services(engine, ws, settings, runtime=Runtime(engine=engine, workspace=ws, settings=settings))
    assert services.teams_adapter is None and services.deliverer is None
    server = TestServer(build_web_app(services), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(str(server.make_url("/api/messages")), json={"type": "message"}) as r:
                assert r.status == 404
    finally:
        await server.close()


async def test_unreadable_requests_are_answered_without_a_500(engine):
    async with TeamsHarness(engine) as cx:
        async with aiohttp.ClientSession() as http:
            for data, headers, expected in ((b"{", {"Content-Type": "application/json"}, 400),
                                            (b"[]", {"Content-Type": "application/json"}, 400),
                                            (b'{"text": "no type"}', {"Content-Type": "application/json"}, 400),
                                            (b"hello", {"Content-Type": "text/plain"}, 415),
                                            (b'{"type": "message", "x": "' + b"a" * (1024 * 1024) + b'"}',
                                             {"Content-Type": "application/json"}, 413)):
                async with http.post(cx.bot_url, data=data, headers=headers) as r:
                    assert r.status == expected, (data[:20], r.status)


async def test_a_single_tenant_cxloop_serves_only_its_own_organisation(engine):
    async with TeamsHarness(engine) as cx:
        activity = install_activity(cx)
        activity["channelData"]["tenant"]["id"] = activity["conversation"]["tenantId"] = "99999999-0000-4000-8000-000000000000"
        status, _ = await cx.teams.post(cx.bot_url, activity)
        assert status == 403 and nothing_stored(engine)
