"""`cxloop teams-package`: the Teams app package (manifest.json, colour and outline icons) as a zip.

Upload it in Teams (Apps → Manage your apps → Upload an app) or in the Teams admin centre.
The icons are drawn here with Pillow, so no binary file lives in the repository.
"""

from __future__ import annotations

import io
import json
import math
import re
import uuid
import zipfile
from dataclasses import dataclass
from urllib.parse import urlparse

MANIFEST_VERSION = "1.17"
SCHEMA = f"https://developer.microsoft.com/en-us/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
ACCENT = "#0F6CBD"
PLACEHOLDER_SITE = "https://example.com/cxloop"
MAX_COMMANDS = 10  # Teams shows at most ten commands per command list
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
# Which `cx` commands the Teams compose box offers, most used first (those that exist are listed).
PERSONAL_COMMANDS = ("help", "mine", "case", "kudos", "scores", "digest", "open", "overdue", "assign", "team")
TEAM_COMMANDS = ("help", "case", "open", "overdue", "assign", "kudos", "scores", "digest", "mine", "team")


class PackageError(ValueError):
    """An argument of teams-package is wrong; the message says which and why."""


@dataclass(frozen=True)
class Package:
    manifest: dict
    color_png: bytes
    outline_png: bytes
    warnings: tuple[str, ...] = ()

    def zip_bytes(self) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, data in (("manifest.json", json.dumps(self.manifest, indent=2, ensure_ascii=False).encode()),
                               ("color.png", self.color_png), ("outline.png", self.outline_png)):
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # the same input, the same bytes
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                z.writestr(info, data)
        return buf.getvalue()


def app_version() -> str:
    try:
        from importlib.metadata import version

        v = version("cxloop")
    except Exception:  # pragma: no cover - not installed
        v = "0.1.0"
    parts = (re.findall(r"\d+", v) + ["0", "0", "0"])[:3]
    return ".".join(str(int(p)) for p in parts)


def teams_app_id(bot_id: str) -> str:
    """The Teams app id: stable for a bot, so uploading a new package updates the same app."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://cxloop/teams-app/{bot_id.lower()}"))


def _commands(names: tuple[str, ...]) -> list[dict[str, str]]:
    from bot.console import registry as commands

    commands.load_extensions()
    out = []
    for name in names:
        cmd = commands.REGISTRY.get(name)
        if cmd is None:
            continue
        description = f"cx {cmd.usage}: {cmd.summary}"
        out.append({"title": f"cx {name}"[:32], "description": description[:128]})
    return out[:MAX_COMMANDS]


def manifest(bot_id: str, base_url: str | None) -> tuple[dict, list[str]]:
    if not _GUID.match(bot_id or ""):
        raise PackageError(f"--app-id {bot_id!r} is not the bot's Microsoft App ID (a GUID such as "
                           "3f1d5c9e-2b7a-4e21-9c0d-1234567890ab), from the Azure Bot's Configuration page")
    warnings = []
    domains: list[str] = []
    site = PLACEHOLDER_SITE
    if base_url:
        parsed = urlparse(base_url)
        if parsed.scheme != "https" or not parsed.hostname:
            raise PackageError(f"--base-url {base_url!r} must be the https:// URL cxloop is served at "
                               "(Teams only talks to https)")
        site = base_url.rstrip("/")
        domains = [parsed.hostname + (f":{parsed.port}" if parsed.port else "")]
    else:
        warnings.append("no --base-url: the developer links are placeholders and validDomains is empty; fine for "
                        "sideloading, set it before publishing to your organisation's app catalogue")
    doc = {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": app_version(),
        "id": teams_app_id(bot_id),
        "developer": {"name": "cxloop", "websiteUrl": site, "privacyUrl": f"{site}/privacy",
                      "termsOfUseUrl": f"{site}/terms"},
        "name": {"short": "cxloop", "full": "cxloop: close the loop on customer feedback"},
        "description": {
            "short": "Turn every unhappy survey answer into a case someone owns and closes.",
            "full": ("cxloop brings NPS, CSAT and CES survey answers into Teams. Every detractor becomes a case with "
                     "an alert in the owning team's channel; someone takes it, works it through the eight RESOLVED "
                     "steps, and records that the loop was closed with the customer. cxloop nudges when follow-up "
                     "is overdue, posts a weekly digest of scores and recognition, and runs Customer Service Week. "
                     "Type cx help in a chat with cxloop, or @cxloop cx help in a channel."),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": ACCENT,
        "bots": [{
            "botId": bot_id,
            "scopes": ["team", "personal", "groupChat"],
            "supportsFiles": False,
            "isNotificationOnly": False,
            "commandLists": [
                {"scopes": ["personal"], "commands": _commands(PERSONAL_COMMANDS)},
                {"scopes": ["team", "groupChat"], "commands": _commands(TEAM_COMMANDS)},
            ],
        }],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": domains,
    }
    return doc, warnings


def _loop_mask(size: int, *, scale: int = 8, inset: float = 0.2, width: float = 0.12):
    """An anti-aliased alpha mask of cxloop's mark: a loop that closes with an arrow head."""
    from PIL import Image, ImageDraw

    big = size * scale
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    pad = big * inset
    line = max(int(big * width), 1)
    box = (pad, pad, big - pad, big - pad)
    start, end = -50, 220  # degrees, clockwise from three o'clock: the loop is open at the top
    draw.arc(box, start=start, end=end, fill=255, width=line)
    # The arrow head where the loop ends, pointing on round the circle into the gap it is closing.
    cx = cy = big / 2
    r = (big - 2 * pad - line) / 2
    a = math.radians(end)
    base_x, base_y = cx + r * math.cos(a), cy + r * math.sin(a)
    tx, ty = -math.sin(a), math.cos(a)  # direction of travel (clockwise on screen)
    nx, ny = math.cos(a), math.sin(a)  # outwards
    half, length = line * 1.15, line * 1.35
    draw.polygon([(base_x + nx * half, base_y + ny * half), (base_x - nx * half, base_y - ny * half),
                  (base_x + tx * length, base_y + ty * length)], fill=255)
    return mask.resize((size, size), Image.LANCZOS)


def _png(img) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def color_icon() -> bytes:
    """192×192, full colour: the white mark on the accent colour."""
    from PIL import Image

    size = 192
    background = Image.new("RGBA", (size, size), ACCENT)
    white = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    background.paste(white, (0, 0), _loop_mask(size))
    return _png(background)


def outline_icon() -> bytes:
    """32×32: white only, on a transparent background (Teams tints it)."""
    from PIL import Image

    size = 32
    icon = Image.new("RGBA", (size, size), (255, 255, 255, 0))
    icon.putalpha(_loop_mask(size, inset=0.12, width=0.14))
    return _png(icon)


def build(bot_id: str, base_url: str | None = None) -> Package:
    doc, warnings = manifest(bot_id, base_url)
    return Package(manifest=doc, color_png=color_icon(), outline_png=outline_icon(), warnings=tuple(warnings))
