"""``write_report``: a self-contained, escaped HTML page and its Markdown twin, for any run."""

import base64
import io
import json
import re
import shutil
from html.parser import HTMLParser

import pytest
from PIL import Image

from rura.errors import RuraError
from rura.evaluation.tables import format_cell
from rura.report import write_report
from tests.report.conftest import SIMILAR, TARGET, edit_json

SECTIONS = {
    "summary": "Run summary",
    "configuration": "Configuration",
    "similarity": "Disease similarity",
    "segmentation": "Lesion segmentation",
    "feature-map": "Feature map",
    "dendrogram": "Dendrogram",
    "roc": "ROC curve",
    "confusion": "Confusion matrix",
    "results": "Results",
}


class Tags(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def named(self, name):
        return [attrs for tag, attrs in self.tags if tag == name]

    def sections(self):
        return {attrs.get("id") for attrs in self.named("section")}


def parse(path):
    parser = Tags()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def images_of(page):
    """Each <img>'s alt text and decoded PNG."""
    found = []
    for attrs in page.named("img"):
        prefix = "data:image/png;base64,"
        assert attrs["src"].startswith(prefix), attrs["src"][:60]
        data = base64.b64decode(attrs["src"][len(prefix) :], validate=True)
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "PNG"
            image.load()
        found.append(attrs["alt"])
    return found


def markdown_images(md_path):
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md_path.read_text())


def test_html_is_self_contained_with_valid_png_images(run_dir):
    html, md = write_report(run_dir)
    assert (html, md) == (run_dir / "report.html", run_dir / "report.md")
    page = parse(html)
    alts = images_of(page)
    assert len(alts) == 6
    assert any("Ward linkage" in alt for alt in alts) and any("PCA" in alt for alt in alts)
    for tag, attrs in page.tags:
        assert tag not in ("script", "link", "iframe", "object", "embed"), tag
        for name in ("src", "href"):
            if name in attrs:
                assert attrs[name].startswith(("#", "data:image/png;base64,")), attrs[name][:60]
    assert "url(" not in html.read_text() and "@import" not in html.read_text()


def test_markdown_links_every_image_relatively_and_the_files_exist(run_dir):
    html, md = write_report(run_dir)
    links = markdown_images(md)
    assert len(links) == len(parse(html).named("img")) == 6
    for link in links:
        assert not link.startswith(("/", "http")) and link.startswith("report_files/")
        assert (md.parent / link).is_file()
        with Image.open(md.parent / link) as image:
            assert image.format == "PNG"


def test_sections_and_values_from_the_run_files(run_dir):
    html, md = write_report(run_dir)
    page, markdown = parse(html), md.read_text()
    assert page.sections() == set(SECTIONS)
    text = "".join(page.text)
    for title in SECTIONS.values():
        assert title in text and f"## {title}" in markdown
    results = json.loads((run_dir / "results" / "metrics.json").read_text())
    for metric in ("accuracy", "f1", "kappa"):
        summary = results["summary"][metric]
        cell = format_cell(summary["mean"], summary["std"])
        assert cell in text and cell in markdown
        assert f"{summary['low']:.4f}, {summary['high']:.4f}" in text
    seed1 = results["per_seed"][1]["f1"]
    assert f"{seed1:.4f}" in text and f"{seed1:.4f}" in markdown
    assert TARGET in text and SIMILAR in text and "0.1.0" in text and "0, 1" in text
    assert "diagnosis:\n  clusterer: agg" in text and "```yaml" in markdown
    assert "0.3750" in text  # the segmenter's mean iou
    assert "ORACLE" not in text


@pytest.mark.slow
def test_dendrogram_only_for_agglomerative_runs(run_dir):
    write_report(run_dir)
    assert (run_dir / "report_files" / "dendrogram.png").is_file()
    edit_json(run_dir / "run.json", clusterer="kmeans")
    html, md = write_report(run_dir)
    page = parse(html)
    alts = images_of(page)
    assert len(alts) == 5 and not any("Ward" in alt for alt in alts)
    assert "dendrogram" in page.sections()
    assert "clusterer kmeans is not agglomerative" in "".join(page.text)
    assert not (run_dir / "report_files" / "dendrogram.png").exists()  # the stale one is gone
    assert not any("dendrogram" in link for link in markdown_images(md))


def test_a_run_without_similarity_or_segmentation_reports_notes(run_dir):
    for folder in ("similarity", "segmentation", "masks"):
        shutil.rmtree(run_dir / folder)
    html, md = write_report(run_dir)
    text = "".join(parse(html).text)
    assert "No similarity stage in this run" in text and SIMILAR in text
    assert "No segmentation stage in this run" in text
    assert "No similarity stage in this run" in md.read_text()
    assert len(images_of(parse(html))) == 4
    for link in markdown_images(md):
        assert (md.parent / link).is_file()


def test_a_failed_run_reports_what_it_wrote(run_dir):
    edit_json(run_dir / "run.json", status="failed", finished=None)
    for path in ("results", "diagnosis/seed1", "segmentation/eval", "masks/evaluation/overlays"):
        shutil.rmtree(run_dir / path)
    (run_dir / "similarity" / "similarity_matrix.png").unlink()
    html, _ = write_report(run_dir)
    page = parse(html)
    text = "".join(page.text)
    assert "This run is failed" in text and "did not finish its evaluation" in text
    assert "No held-out segmentation scores" in text and "No segmentation overlays" in text
    seed0 = json.loads((run_dir / "diagnosis/seed0/metrics.json").read_text())["metrics"]["f1"]
    assert f"{seed0:.4f}" in text  # the per-seed table, from diagnosis/seed0
    assert "seed 0" in text and "summed over" not in text
    assert any("Similarity" in alt for alt in images_of(page))  # redrawn from the CSV


def test_an_empty_run_and_a_broken_file_become_notes(tmp_path, run_dir):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "run.json").write_text(json.dumps({"format": "rura-run/1", "status": "running"}))
    html, md = write_report(bare)
    page = parse(html)
    assert page.sections() == set(SECTIONS) and not page.named("img")
    assert "No config.yaml" in "".join(page.text) and md.is_file()

    (run_dir / "similarity" / "similarity.json").write_text("{not json")
    text = "".join(parse(write_report(run_dir)[0]).text)
    assert "similarity.json: unreadable" in text and "No readable similarity.json" in text


def test_values_from_files_are_escaped(run_dir):
    evil = "</pre><script>alert(1)</script><img src=http://example.com/x.png>"
    config = run_dir / "config.yaml"
    config.write_text(config.read_text() + f"name: '{evil}'\n")
    edit_json(run_dir / "run.json", backbone="<b>bold</b>|pipe")
    html, md = write_report(run_dir)
    source = html.read_text()
    page = parse(html)
    assert not page.named("script") and "<script" not in source and "<b>" not in source
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in source
    assert evil in "".join(page.text)  # shown verbatim, as text
    assert all(attrs["src"].startswith("data:") for attrs in page.named("img"))
    markdown = md.read_text()
    assert evil in markdown.split("```yaml")[1].split("```")[0]  # inside the code block
    assert "&lt;b&gt;bold&lt;/b&gt;\\|pipe" in markdown and "<b>" not in markdown


@pytest.mark.slow
def test_oracle_results_are_marked(run_dir):
    edit_json(run_dir / "results" / "metrics.json", oracle=True)
    html, md = write_report(run_dir)
    page = parse(html)
    assert "(ORACLE)" in html.read_text().split("</title>")[0]
    assert "not zero-shot results" in "".join(page.text) and "ORACLE" in md.read_text()


@pytest.mark.slow
def test_the_same_run_gives_the_same_report(run_dir, tmp_path):
    first = write_report(run_dir, out=tmp_path / "a" / "first.html")
    second = write_report(run_dir, out=tmp_path / "b" / "first.html")
    stamp = re.compile(r"generated \S+")
    for one, two in zip(first, second, strict=True):
        assert stamp.sub("", one.read_text()) == stamp.sub("", two.read_text())
    assert first[1].name == "first.md" and (tmp_path / "a" / "first_files" / "roc.png").is_file()
    assert "](first_files/roc.png)" in first[1].read_text()


def test_not_a_run_directory_is_a_one_line_error(tmp_path):
    with pytest.raises(RuraError, match=r"no such run directory.*rura run CONFIG"):
        write_report(tmp_path / "missing")
    with pytest.raises(RuraError, match=r"not a run directory \(no run.json\).*rura run CONFIG"):
        write_report(tmp_path)
    (tmp_path / "run.json").write_text("{")
    with pytest.raises(RuraError, match="not readable JSON") as caught:
        write_report(tmp_path)
    assert "\n" not in str(caught.value)


def test_out_must_be_html(run_dir):
    with pytest.raises(RuraError, match=r"\.html"):
        write_report(run_dir, out=run_dir / "report.md")


@pytest.mark.slow
def test_the_seed_draws_the_subsamples(run_dir, monkeypatch):
    import rura.report.figures as figures
    import rura.report.outcome as outcome

    seeds = []
    real = figures.plot_dendrogram

    def spy(*args, seed=0, **kwargs):
        seeds.append(seed)
        return real(*args, seed=seed, **kwargs)

    monkeypatch.setattr(figures, "plot_dendrogram", spy)
    monkeypatch.setattr(outcome, "MAX_MAP_POINTS", 5)
    write_report(run_dir, seed=3)
    first = (run_dir / "report_files" / "feature_map.png").read_bytes()
    write_report(run_dir, seed=3)
    assert (run_dir / "report_files" / "feature_map.png").read_bytes() == first
    write_report(run_dir, seed=4)
    assert (run_dir / "report_files" / "feature_map.png").read_bytes() != first
    assert seeds == [3, 3, 4]


def write_comparison(run_dir):
    """A ``rura compare RUN`` leaderboard in ``RUN/compare``, written by the real writer."""
    from rura.experiments.compare import write_leaderboard
    from rura.experiments.compare_run import RUN_COLUMNS

    rows = []
    for focus, cluster, own, f1 in (("none", "agg", True, 0.8), ("masked", "pam", False, 0.6)):
        for seed in (0, 1):
            metrics = {m: f1 + 0.01 * seed for m in ("accuracy", "precision", "recall", "f1")}
            rows.append(
                {"backbone": "resnet18", "focus": focus, "cluster": cluster, "seed": seed}
                | {"run": own, "mapping": "reference", "oracle": False, "mode": "inductive"}
                | metrics
                | {"auc": 0.9, "disease_share": 0.5}
            )
    rows.append(
        {"backbone": "resnet18", "focus": "none", "cluster": "hdbscan", "seed": 0, "run": False}
        | {"mapping": "reference", "oracle": False, "error": "no predict"}
    )
    settings = {"seeds": [0, 1], "focuses": ["none", "masked"], "adapt": "center"}
    out = run_dir / "compare"
    write_leaderboard(rows, None, out, settings=settings, markdown="# x\n", columns=RUN_COLUMNS)


@pytest.mark.slow
def test_a_comparison_section_only_when_the_run_has_a_leaderboard(run_dir):
    write_comparison(run_dir)
    html, md = write_report(run_dir)
    page = parse(html)
    assert page.sections() == set(SECTIONS) | {"comparison"}
    text, markdown = "".join(page.text), md.read_text()
    assert "camera adaptation center" in text and "seeds 0, 1" in text
    assert "| **resnet18** | **none** | **agg** | **0.8050 ± 0.0050** |" in markdown
    assert "| resnet18 | masked | pam | 0.6050 ± 0.0050 |" in markdown
    assert "failed: no predict" in text
    assert any("rura compare" in alt for alt in images_of(page))
    assert (run_dir / "report_files" / "comparison.png").is_file()

    (run_dir / "compare" / "leaderboard.json").write_text("{broken")
    page = parse(write_report(run_dir)[0])
    assert "comparison" in page.sections()
    assert "No readable compare/leaderboard.json" in "".join(page.text)

    shutil.rmtree(run_dir / "compare")
    page = parse(write_report(run_dir)[0])
    assert page.sections() == set(SECTIONS)
    assert not (run_dir / "report_files" / "comparison.png").exists()


@pytest.mark.slow
def test_a_selection_section_only_when_the_run_has_one(run_dir):
    from rura.pipeline.select import Selection, write_selection

    rows = [
        {"focus": f, "clusterer": "agg", "mapping": "reference", "adapt": "center"}
        | {"evidence": "distance", "operating_point": "otsu", "auc": auc, "f1": 0.7}
        | {"score": (auc + 0.7) / 2, "auc:amd": auc, "f1:amd": 0.7}
        for f, auc in (("weighted", 0.9), ("masked", 0.8))
    ]
    chosen = {k: rows[0][k] for k in ("focus", "clusterer", "mapping", "adapt")}
    write_selection(Selection(rows, chosen, {"amd": "rvo"}), run_dir / "select")
    html, md = write_report(run_dir)
    page = parse(html)
    assert page.sections() == set(SECTIONS) | {"selection"}
    text = "".join(page.text)
    assert "focus weighted" in text and "amd (fitted on rvo)" in text
    assert "| **weighted** | **0.900** | **0.700** | **0.800** |" in md.read_text()
    assert (run_dir / "report_files" / "selection.png").is_file()

    write_selection(Selection([], chosen, fallback="one known disease"), run_dir / "select")
    page = parse(write_report(run_dir)[0])
    assert "No selection: one known disease." in "".join(page.text)

    shutil.rmtree(run_dir / "select")
    assert parse(write_report(run_dir)[0]).sections() == set(SECTIONS)
