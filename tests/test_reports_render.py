"""What people read opens in a real browser: the DPO report (``out/dpo/report.html``) and the
risk team's model card (``out/risk/model_card.html``), built from small real inputs, rendered
by headless Chromium (Debian ``chromium``).

Each page is rendered twice: ``--dump-dom`` (the DOM after parsing, checked for its sections and
figures and for any resource that is not inline) and ``--screenshot`` (a PNG in the test's
temporary folder, checked to show text and the figures' colours). Host names resolve to nothing
(``--host-resolver-rules``) and Chromium's network log is kept: any request the page started is
named, and so is anything it wrote to the console. The harness itself is tested on a hostile
page, so a report that did fetch something could not pass.

Chromium missing is a failure, not a skip: ``make test`` installs it (scripts/ensure_chromium.sh).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pandas as pd
import pytest
from PIL import Image

from credit.model_card import render_model_card
from credit.monitoring import stability_report
from privacy.audit import AuditKey, append_event, write_checkpoint
from privacy.audit_events import EVENT_KINDS
from privacy.dp.ledger import Charge, charge
from privacy.dp.mechanisms import zcdp_to_approx_dp
from privacy.dpo.products import default_recipients, write_dpo_products
from privacy.dpo.report import SECTIONS
from privacy.policy import load_policy

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
WINDOW = (1280, 2000)
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--enable-logging=stderr",
    "--v=0",
)
_CONSOLE = re.compile(r":CONSOLE[:(]\d+\)?\] (.*)")


def _sibling(relative: str) -> ModuleType:
    """A test module of this suite by path (tests/ is not a package), loaded once: its
    fixtures and builders are reused as they are."""
    path = TESTS / relative
    loaded = sys.modules.get(path.stem)
    if loaded is not None and Path(str(loaded.__file__)).resolve() == path:
        return loaded
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


_dpo = _sibling("privacy/test_dpo.py")
_ledger_flow = _sibling("credit/test_credit_ledger_flow.py")
warehouse = _dpo.warehouse  # the tiny hand-made ledger, classified and minimised
flow = _ledger_flow.flow  # a synthetic ledger's model, trained, with its holdout


# -- the harness ----------------------------------------------------------------------------


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            "chromium is not installed, so the reports cannot be rendered: run `make test`, "
            "which installs it (scripts/ensure_chromium.sh: Debian package chromium)",
            pytrace=False,
        )
    return found


@dataclass
class Rendered:
    dom: str
    png: Path
    requests: list[str]
    console: list[str]


def _page_requests(netlog: Path) -> list[str]:
    """URLs of the requests the page itself started (Chromium's own background requests carry
    no file:// isolation key)."""
    doc = json.loads(netlog.read_text(encoding="utf-8"))
    start = doc["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in doc["events"]:
        params = event.get("params", {})
        if event["type"] == start and (
            str(params.get("network_isolation_key", "")).startswith("file://")
            or params.get("initiator") == "null"
        ):
            urls.append(str(params["url"]))
    return urls


def _chromium_run(
    page: Path, work: Path, name: str, *mode: str
) -> tuple[str, list[str], list[str]]:
    netlog = work / f"{name}.netlog.json"
    proc = subprocess.run(
        [
            _chromium(),
            *FLAGS,
            f"--user-data-dir={work / f'{name}.profile'}",
            f"--log-net-log={netlog}",
            *mode,
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = [m.group(1) for m in map(_CONSOLE.search, proc.stderr.splitlines()) if m]
    return proc.stdout, _page_requests(netlog), console


def render(page: Path, work: Path) -> Rendered:
    work.mkdir(parents=True, exist_ok=True)
    stem = page.stem
    dom, requests, console = _chromium_run(page, work, f"{stem}-dom", "--dump-dom")
    png = work / f"{stem}.png"
    _, shot_requests, shot_console = _chromium_run(
        page,
        work,
        f"{stem}-shot",
        f"--screenshot={png}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    )
    assert png.is_file(), f"chromium wrote no screenshot of {page}"
    return Rendered(dom, png, requests + shot_requests, console + shot_console)


_RESOURCE_ATTRS = frozenset(
    {"src", "href", "xlink:href", "srcset", "poster", "data", "action", "formaction"}
)
_CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]*)")


class Dom(HTMLParser):
    """The parts of a rendered DOM the checks read: headings, figures, tables, references."""

    def __init__(self) -> None:
        super().__init__()
        self.h2: list[tuple[str, str]] = []
        self.svgs = 0
        self.svg_text: list[str] = []
        self.svg_titles: list[str] = []
        self.references: list[str] = []
        self.tags: set[str] = set()
        self.tables: list[list[list[str]]] = []
        self._open: list[str] = []
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in _RESOURCE_ATTRS and value is not None:
                self.references.append(value)
            if name == "style" and value:
                self.references += _CSS_URL.findall(value)
        if tag == "svg":
            self.svgs += 1
        if tag == "table":
            self.tables.append([])
        if tag == "tr" and self.tables:
            self.tables[-1].append([])
        if tag == "h2":
            self._text = [dict(attrs).get("id") or ""]
        if tag in ("h2", "td", "th", "text", "title", "style"):
            self._open.append(tag)
            if tag != "h2":
                self._text = []

    def handle_data(self, data: str) -> None:
        if self._open:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if not self._open or self._open[-1] != tag:
            return
        self._open.pop()
        if tag == "h2":
            self.h2.append((self._text[0], "".join(self._text[1:]).strip()))
        elif tag in ("td", "th") and self.tables and self.tables[-1]:
            self.tables[-1][-1].append("".join(self._text).strip())
        elif tag == "text":
            self.svg_text.append("".join(self._text).strip())
        elif tag == "title" and self.svgs:
            self.svg_titles.append("".join(self._text).strip())
        elif tag == "style":
            css = "".join(self._text)
            self.references += _CSS_URL.findall(css)
            self.references += re.findall(r"@import\s+['\"]?([^'\";\s]+)", css)


def parse(dom: str) -> Dom:
    parsed = Dom()
    parsed.feed(dom)
    parsed.close()
    return parsed


def assert_self_contained(page: Rendered, dom: Dom) -> None:
    assert page.requests == [], f"the page requested {page.requests}"
    assert page.console == [], f"the page wrote to the console: {page.console}"
    assert not dom.tags & {"script", "link", "iframe", "object", "embed", "img"}, dom.tags
    remote = [r for r in dom.references if not r.startswith(("#", "data:"))]
    assert remote == [], f"resources that are not inline: {remote}"


def screenshot_pixels(png: Path) -> Image.Image:
    """The screenshot, checked to be the window's size and to show a page: text on the first
    screen (dark pixels near the top) and many colours (antialiased text, figures)."""
    with Image.open(png) as img:
        rgb = img.convert("RGB")
    assert rgb.size == WINDOW
    colours = rgb.getcolors(maxcolors=1 << 20) or []
    assert len(colours) >= 50, f"{png}: {len(colours)} colours: a blank page"
    white = max(colours)[0] / (WINDOW[0] * WINDOW[1])
    assert white < 0.97, f"{png}: {white:.1%} of one colour: nothing drawn"
    top = rgb.crop((0, 0, WINDOW[0], 160)).convert("L")
    assert min(top.getdata()) < 80, f"{png}: no text in the first 160 px"
    return rgb


def count_colour(img: Image.Image, rgb: tuple[int, int, int], tolerance: int = 6) -> int:
    return sum(
        n
        for n, c in img.getcolors(maxcolors=1 << 20) or []
        if all(abs(a - b) <= tolerance for a, b in zip(c, rgb, strict=True))
    )


# -- the harness cannot be fooled -------------------------------------------------------------


def test_the_harness_names_a_fetched_resource_and_a_console_message(tmp_path: Path) -> None:
    page = tmp_path / "hostile.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="stylesheet" href="https://cdn.example.test/x.css">'
        '</head><body><h1>x</h1><img src="http://example.test/a.png">'
        '<script>console.error("leaked")</script></body></html>'
    )
    dom, requests, console = _chromium_run(page, tmp_path, "hostile", "--dump-dom")
    assert sorted(requests) == ["http://example.test/a.png", "https://cdn.example.test/x.css"]
    assert any('"leaked"' in line for line in console), console
    parsed = parse(dom)
    assert {"script", "link", "img"} <= parsed.tags
    assert "https://cdn.example.test/x.css" in parsed.references


# -- the DPO report ---------------------------------------------------------------------------


def _dpo_report(con: duckdb.DuckDBPyConnection, home: Path, key: AuditKey) -> Path:
    policy = load_policy()
    write_dpo_products(
        con,
        home / "out" / "dpo",
        policy,
        controller=_dpo.CONTROLLER,
        recipients=default_recipients(policy, {"acme": "Acme research"}, "CN"),
        run_id="render",
        now="2026-12-01T00:00:00+00:00",
        namespace="duckdb://w.duckdb",
        dbt_manifest=_dpo._manifest(home / "manifest.json"),
        asset_deps=_dpo.ASSET_DEPS,
        products=_dpo.PRODUCTS,
        budgets={"acme": 0.5},
        audit_key=key,
    )
    return home / "out" / "dpo" / "report.html"


def _tamper_rows(dom: Dom) -> dict[str, list[str]]:
    table = next(t for t in dom.tables if t and t[0][:2] == ["log", "status"])
    return {row[0]: row[1:] for row in table[1:]}


def test_the_dpo_report_renders_its_sections_and_figures_offline(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    key = AuditKey.from_seed(bytes(range(32)))
    append_event(warehouse, "pipeline", "policy.change", "default.yaml", {"purpose": "governance"})
    write_checkpoint(warehouse, key)
    append_event(warehouse, "pipeline", "ingest.snapshot", "s1", {"snapshot_id": "s1"})
    release = Charge(
        "rel-render",
        "acme",
        "monthly_volume",
        "0" * 64,
        "s1",
        "2026-11",
        0.05,
        1.2,
        1e-6,
        "gaussian",
        {"sum": 3.0},
    )
    charge(warehouse, release, 0.5, 1.0, "2026-12-01T00:00:00+00:00")
    report = _dpo_report(warehouse, tmp_path, key)

    page = render(report, tmp_path / "chromium")
    dom = parse(page.dom)
    assert_self_contained(page, dom)
    assert dom.h2 == list(SECTIONS.items())
    lineage = json.loads((report.parent / "lineage.json").read_text())
    nodes = {e[end] for e in lineage["edges"] for end in ("source", "target")}
    assert set(dom.svg_titles) == nodes  # every dataset and file of the lineage is drawn
    assert "out/risk/scores.parquet" in nodes and dom.svgs >= 2
    assert "important" in dom.svg_text  # the grade bar chart
    rows = _tamper_rows(dom)
    assert rows["audit.events"][:3] == ["intact", "2", ""]
    assert rows["audit.checkpoints"][:3] == ["intact", "1", ""]
    assert rows["insights.privacy_ledger"][:3] == ["intact", "1", ""]
    loss = next(t for t in dom.tables if t and t[0][:2] == ["scope", "releases"])
    epsilon = f"{zcdp_to_approx_dp(0.05, 1e-6):.4g}"
    assert loss[1:] == [
        ["acme", "1", "0.05", epsilon, "1e-06", "0.5", "0.45"],
        ["all buyers", "1", "0.05", epsilon, "1e-06", "", ""],
    ]
    timeline = next(t for t in dom.tables if t and t[0][0] == "release date")
    assert timeline[1][:5] == ["2026-12-01", "acme", "1", "0.05", "0.05"]
    assert dom.svgs >= 3  # grades, lineage, the privacy loss of 2026-11
    kinds = next(t for t in dom.tables if t and t[0][:3] == ["event", "what it records", "count"])
    assert [r[:3] for r in kinds[1:]] == [
        ["ingest.snapshot", EVENT_KINDS["ingest.snapshot"], "1"],
        ["policy.change", EVENT_KINDS["policy.change"], "1"],
    ]
    assert "/work/" not in page.dom and str(ROOT) not in page.dom  # no host paths

    shot = screenshot_pixels(page.png)
    assert count_colour(shot, (74, 111, 165)) > 1000  # the inventory bar
    assert count_colour(shot, (251, 232, 200)) > 2000  # minimised datasets in the graph

    # An edited audit event: the events row says BROKEN and names the event, the others hold.
    warehouse.execute("UPDATE audit.events SET actor = 'someone' WHERE seq = 1")
    broken_dom, requests, _ = _chromium_run(
        _dpo_report(warehouse, tmp_path, key), tmp_path / "chromium", "broken", "--dump-dom"
    )
    broken = parse(broken_dom)
    assert requests == []
    rows = _tamper_rows(broken)
    assert rows["audit.events"][:3] == ["BROKEN", "2", "1"]
    assert "hash mismatch at seq 1" in rows["audit.events"][3]
    assert rows["insights.privacy_ledger"][0] == "intact"


# -- the model card -------------------------------------------------------------------------


def test_the_model_card_renders_its_sections_and_figures_offline(
    flow: tuple[Any, pd.DataFrame, Any], tmp_path: Path
) -> None:
    _, feats, res = flow
    cut = feats["applied_at"].quantile(0.7)
    development, latest = feats[feats["applied_at"] < cut], feats[feats["applied_at"] >= cut]
    html = render_model_card(
        res.model,
        res.metrics,
        res.holdout,
        res.reliability,
        stability=stability_report(res.model.points, development, latest),
        fairness=res.metrics.get("fairness"),
        snapshot_id="snap-render",
        governance={"owner": "risk team (test)"},
        approval={"status": "champion (provisional): first trained model"},
    )
    card = tmp_path / "out" / "risk" / "model_card.html"
    card.parent.mkdir(parents=True)
    card.write_text(html, encoding="utf-8")

    page = render(card, tmp_path / "chromium")
    dom = parse(page.dom)
    assert_self_contained(page, dom)
    titles = [title for _, title in dom.h2]
    for section in (
        "Intended use",
        "Out-of-scope use",
        "Owner, version and approval",
        "Data and label definition",
        "Performance",
        "Calibration",
        "Drivers",
        "Reason codes",
        "Limitations",
        "Failed checks and what to do",
        "Appendix: points table",
    ):
        assert section in titles, (section, titles)
    assert dom.svgs >= 3
    for figure in ("ROC (holdout)", "Calibration (holdout)", "Score distribution (holdout)"):
        assert figure in dom.svg_text, figure
    # The calibration table speaks the reader's words: deciles 1-10, named columns.
    [calibration] = [t for t in dom.tables if t and "PD decile" in t[0]]
    assert "observed bad rate" in calibration[0] and "mean_pd" not in calibration[0]
    assert [row[0] for row in calibration[1:]][:1] == ["1"]
    assert "snap-render" in page.dom

    shot = screenshot_pixels(page.png)
    assert count_colour(shot, (214, 39, 40)) > 200  # the scorecard's ROC curve
    assert count_colour(shot, (44, 160, 44)) > 200  # the challenger's ROC curve


# -- the installer the Makefile calls ---------------------------------------------------------


def test_ensure_chromium_installs_the_debian_package_only_when_it_is_missing(
    tmp_path: Path,
) -> None:
    """Run against stub id/apt-get on a PATH without chromium: one update, one non-interactive
    install without recommends; a second run finds chromium and installs nothing."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    log = tmp_path / "apt.log"
    (stubs / "id").write_text("#!/bin/sh\necho 0\n")
    (stubs / "apt-get").write_text(
        "#!/bin/sh\n"
        f'echo "$DEBIAN_FRONTEND $*" >> {log}\n'
        f'case "$*" in *install*) printf "#!/bin/sh\\n" > {stubs}/chromium; '
        f"/bin/chmod +x {stubs}/chromium;; esac\n"
    )
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    script = ROOT / "scripts" / "ensure_chromium.sh"
    env = {"PATH": str(stubs)}
    first = subprocess.run(["/bin/sh", str(script)], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert log.read_text().splitlines() == [
        "noninteractive update -q",
        "noninteractive install -y -q --no-install-recommends chromium",
    ]
    again = subprocess.run(["/bin/sh", str(script)], env=env, capture_output=True, text=True)
    assert again.returncode == 0 and len(log.read_text().splitlines()) == 2


def test_the_model_card_score_histogram_fits_the_scores_and_shows_the_grades(
    flow: tuple[Any, pd.DataFrame, Any], tmp_path: Path
) -> None:
    """The score axis spans round ticks around the holdout's scores (not 300-850), and the grade
    cut-offs the card lists are the bands drawn over the histogram; the budget's CV cost is shown
    first, as the primary figure."""
    from credit.pricing import grade

    _, _, res = flow
    card = tmp_path / "model_card.html"
    card.write_text(
        render_model_card(res.model, res.metrics, res.holdout, res.reliability), encoding="utf-8"
    )
    page = render(card, tmp_path / "chromium")
    dom = parse(page.dom)
    assert_self_contained(page, dom)
    texts = dom.svg_text
    start = texts.index("Score distribution (holdout)")
    numbers = [float(t) for t in texts[start + 1 :] if re.fullmatch(r"\d+(\.\d+)?", t)]
    x_ticks = [t for t in numbers if t >= 100]
    steps = {b - a for a, b in zip(x_ticks, x_ticks[1:], strict=False)}
    scores = res.holdout["score"]
    assert len(steps) == 1 and steps.pop() in {10.0, 20.0, 25.0, 50.0}
    assert x_ticks[0] <= scores.min() < x_ticks[1] and x_ticks[-2] < scores.max() <= x_ticks[-1]
    listed = re.search(r"Grade cut-offs[^:]*: ([^<]*)\.", page.dom)
    assert listed is not None
    grades = [part.split(" ")[0] for part in listed.group(1).split("; ")]
    assert grades[0] == "G" and grades[-1] == "A"
    drawn = [t.split(" ")[0] for t in texts[start:] if t.split(" ")[0] in grades]
    assert drawn == [g for g in grades if g in drawn]  # in the listed order, each once
    typical = grade(res.model.calibrator.predict(scores.median()))
    assert typical in drawn, (typical, drawn)
    budget = next(t for t in dom.tables if t and "AUC cost" in t[0])
    assert budget[1][0].startswith("3-fold CV on the development rows") and budget[1][-1] == "yes"
    assert budget[2][0] == "out-of-time holdout" and budget[2][-1] == "no"
