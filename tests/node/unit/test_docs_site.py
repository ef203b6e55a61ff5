"""The documentation site builds with no warnings and loads nothing from the internet, at build time or in the reader's
browser: no web fonts, no analytics, no external scripts, styles or images, no repository widget."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "mkdocs.yml"
EXTERNAL_ASSET = re.compile(r"<(?:script|link|img|iframe|source|video|audio)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//")
EXTERNAL_CSS = re.compile(r"(?:url\(\s*[\"']?|@import\s+[\"']?)(?:https?:)?//")


def _config() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with mkdocs (the dev extra)")
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return config


def test_theme_fetches_no_fonts_and_has_no_trackers() -> None:
    config = _config()
    theme = config["theme"]
    assert theme["name"] == "material"
    assert theme["font"] is False, "font: false keeps the theme from loading Google Fonts in the reader's browser"
    assert "repo_url" not in config, "repo_url makes the theme call the GitHub API from the reader's browser"
    assert "analytics" not in config.get("extra", {}), "no analytics"
    for key in ("extra_css", "extra_javascript"):
        external = [item for item in config.get(key, []) if "//" in str(item)]
        assert external == [], f"{key} loads {external} from outside"
    assert config.get("plugins") == ["search"], "only the built-in search plugin (its index is served locally)"


def test_every_nav_page_exists() -> None:
    config = _config()
    pages = [page for entry in config["nav"] for page in entry.values()]
    missing = [page for page in pages if not (ROOT / config["docs_dir"] / page).is_file()]
    assert missing == []
    on_disk = sorted(path.name for path in (ROOT / config["docs_dir"]).glob("*.md"))
    assert on_disk == sorted(pages), "every page is in the nav, and the nav names only pages that exist"


def test_site_builds_strict_and_self_contained(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="mkdocs and mkdocs-material come with the dev extra")
    pytest.importorskip("material", reason="mkdocs and mkdocs-material come with the dev extra")
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(CONFIG), "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1", "HOME": str(tmp_path)},
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert "WARNING" not in built.stderr, built.stderr
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 8
    for path in [*pages, *site.rglob("*.css")]:
        text = path.read_text(errors="replace")
        assert EXTERNAL_ASSET.search(text) is None, f"{path.relative_to(site)} loads an asset from outside"
        assert EXTERNAL_CSS.search(text) is None, f"{path.relative_to(site)} imports a style or font from outside"
        assert "fonts.googleapis" not in text, f"{path.relative_to(site)} loads Google Fonts"
    assert (site / "assets" / "grafana-dashboard.json").is_file(), "the dashboard is published with the site"


@pytest.mark.parametrize(
    ("html", "external"),
    [
        ('<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">', True),
        ('<script src="//cdn.example.org/x.js"></script>', True),
        ("<img src='http://example.org/a.png'>", True),
        ('<link rel="stylesheet" href="assets/stylesheets/main.css">', False),
        ('<a href="https://viem.sh">viem</a>', False),  # a link the reader may follow is not an asset
    ],
)
def test_external_asset_pattern(html: str, external: bool) -> None:
    assert (EXTERNAL_ASSET.search(html) is not None) == external


def test_external_css_pattern() -> None:
    assert EXTERNAL_CSS.search("@import url(https://fonts.googleapis.com/css2?family=Inter);") is not None
    assert EXTERNAL_CSS.search("src: url('../fonts/local.woff2')") is None
