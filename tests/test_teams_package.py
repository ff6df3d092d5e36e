"""`cxloop teams-package`: a Teams app package that Teams accepts, built with no binary in the repository."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from PIL import Image

from handlers.cli import main
from handlers.teams.package import build

APP_ID = "3f1d5c9e-2b7a-4e21-9c0d-00000000c100"


def unzip(path) -> tuple[dict, Image.Image, Image.Image]:
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["color.png", "manifest.json", "outline.png"]  # at the root, as Teams wants
        manifest = json.loads(z.read("manifest.json"))
        return manifest, Image.open(io.BytesIO(z.read("color.png"))), Image.open(io.BytesIO(z.read("outline.png")))


def test_the_package_has_a_current_manifest_and_teams_sized_icons(tmp_path, capsys):
    out = tmp_path / "cxloop.zip"
    assert main(["teams-package", "--app-id", APP_ID, "--base-url", "https://cx.example.org/", "--out", str(out)]) == 0
    assert "Upload it in Teams" in capsys.readouterr().out
    manifest, color, outline = unzip(out)
    assert manifest["manifestVersion"] == "1.17" and "v1.17/MicrosoftTeams.schema.json" in manifest["$schema"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", manifest["id"])
    assert manifest["validDomains"] == ["cx.example.org"]
    assert all(manifest["developer"][k].startswith("https://cx.example.org") for k in
               ("websiteUrl", "privacyUrl", "termsOfUseUrl"))
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["description"]["short"]) <= 80
    assert len(manifest["description"]["full"]) <= 4000
    assert re.fullmatch(r"#[0-9A-F]{6}", manifest["accentColor"])
    (bot,) = manifest["bots"]
    assert bot["botId"] == APP_ID and sorted(bot["scopes"]) == ["groupChat", "personal", "team"]
    lists = {tuple(sorted(c["scopes"])): c["commands"] for c in bot["commandLists"]}
    assert set(lists) == {("personal",), ("groupChat", "team")}
    for commands in lists.values():
        assert 1 <= len(commands) <= 10
        assert all(len(c["title"]) <= 32 and len(c["description"]) <= 128 for c in commands)
        assert commands[0]["title"] == "cx help"
    assert {"cx mine", "cx case"} <= {c["title"] for c in lists[("personal",)]}
    # icons: 192×192 in colour; 32×32 white on transparent
    assert color.size == (192, 192)
    assert outline.size == (32, 32) and outline.mode == "RGBA"
    pixels = [outline.getpixel((x, y)) for y in range(32) for x in range(32)]
    assert any(a == 0 for *_, a in pixels) and any(a == 255 for *_, a in pixels)
    assert all((r, g, b) == (255, 255, 255) for r, g, b, a in pixels if a)


def test_the_same_bot_gives_the_same_package_and_app_id():
    first, second = build(APP_ID, "https://cx.example.org"), build(APP_ID, "https://cx.example.org")
    assert first.zip_bytes() == second.zip_bytes()
    assert build(APP_ID.upper(), None).manifest["id"] == first.manifest["id"]
    assert build("7a1d5c9e-2b7a-4e21-9c0d-00000000c100").manifest["id"] != first.manifest["id"]


def test_the_app_id_defaults_to_teams_app_id_and_no_base_url_is_only_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TEAMS_APP_ID", APP_ID)
    out = tmp_path / "p.zip"
    assert main(["teams-package", "--out", str(out)]) == 0
    manifest, _, _ = unzip(out)
    assert manifest["bots"][0]["botId"] == APP_ID and manifest["validDomains"] == []
    assert "placeholders" in capsys.readouterr().err


@pytest.mark.parametrize("args, says", [
    ([], "give --app-id or set TEAMS_APP_ID"),
    (["--app-id", "cxloop"], "is not the bot's Microsoft App ID"),
    (["--app-id", APP_ID, "--base-url", "http://cx.example.org"], "must be the https:// URL"),
])
def test_wrong_arguments_are_explained(args, says, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TEAMS_APP_ID", raising=False)
    assert main(["teams-package", *args, "--out", str(tmp_path / "x.zip")]) == 2
    assert says in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "x.zip").exists()
