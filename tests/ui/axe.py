"""axe-core accessibility checks in the browser tests: the npm package's axe.min.js, fetched once with
`npm pack` into test-artifacts/axe-core/ (its MPL-2.0 licence beside it), injected into the page under test.

Without npm or the network the check is skipped (pytest.skip), never passed silently."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

AXE_VERSION = "4.14.1"
AXE_DIR = REPO_ROOT / "test-artifacts" / "axe-core"
AXE_JS = AXE_DIR / "axe.min.js"
SERIOUS = ("serious", "critical")


def axe_script() -> Path:
    """The path of axe.min.js, fetched from the npm registry the first time."""
    if AXE_JS.is_file():
        return AXE_JS
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot fetch axe-core for the accessibility check")
    AXE_DIR.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", str(AXE_DIR)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    tarball = AXE_DIR / f"axe-core-{AXE_VERSION}.tgz"
    if done.returncode != 0 or not tarball.is_file():
        pytest.skip(f"could not fetch axe-core from npm: {done.stderr[-300:]}")
    with tarfile.open(tarball) as tar:
        for name, target in (("package/axe.min.js", AXE_JS), ("package/LICENSE", AXE_DIR / "LICENSE")):
            member = tar.extractfile(name)
            if member is not None:
                target.write_bytes(member.read())
    return AXE_JS


def serious_violations(page) -> list[str]:
    """Run axe on the page (WCAG 2 A/AA rules) and describe every serious or critical violation."""
    page.add_script_tag(path=str(axe_script()))
    result = page.evaluate(
        """async () => await axe.run(document, {runOnly: {type: "tag",
            values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}})"""
    )
    out = []
    for v in result["violations"]:
        if v.get("impact") in SERIOUS:
            targets = ", ".join(str(n["target"]) for n in v["nodes"][:3])
            out.append(f"{v['id']} ({v['impact']}): {v['help']} at {targets}")
    return out
