"""Properties of the manifest readers, on arbitrary input: a valid manifest or a RuraError (never
another exception), and a valid manifest's paths stay inside its root, links followed."""

import contextlib
import csv
import io
import os
import tempfile
from pathlib import Path

from hypothesis import event, given, settings
from hypothesis import strategies as st
from PIL import Image

import rura
from rura.data.manifest import MANIFEST_COLUMNS, Manifest
from rura.errors import RuraError

FAST = settings(max_examples=50, deadline=None)
#: Path pieces that have broken path handling somewhere: escapes, separators, links, NUL,
#: surrogate escapes (undecodable file names), non-ASCII, spaces and quotes.
PIECES = ["a.png", "sub", "b.png", "link.png", "out", "..", ".", "/", "\\", "\x00", "\udcff"]
PIECES += ["é", " ", '"', ",", "\n", "mask.png", "sub/b.png", "../outside/secret.png"]
pieces = st.lists(st.sampled_from(PIECES), max_size=4).map("".join)
#: Paths of the tree ``dataset()`` makes, good ones weighted up, then bad ones and anything.
GOOD = ["a.png", "sub/b.png", "link.png", "./sub/../a.png", "missing.png", "sub"]
BAD = ["../outside/secret.png", "/etc/passwd", "sub/../../outside/secret.png", "", "\udcff.png"]
good = st.sampled_from(GOOD)
paths = st.one_of(good, st.sampled_from(BAD), pieces)
cells = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6), paths)
columns = st.sampled_from([*MANIFEST_COLUMNS, "mask_ma", "mask_", "lesion_threshold", "other"])
thresholds = st.sampled_from(["", "0", "127", "254", "255", "²", "-1", "x"])
labels = st.sampled_from(["normal", "mild_dr", ""])
eyes = st.sampled_from(["left", "right", ""])


@st.composite
def records(draw):
    """Well-formed rows over the tree (optional columns too), then, half the time, one cell of
    one row (or a new column) replaced by anything."""
    rows = []
    for index in range(draw(st.integers(0, 4))):
        row = {"id": f"row{index}", "path": draw(good), "label": draw(labels)}
        if draw(st.booleans()):
            row.update(eye=draw(eyes), mask_ma=draw(st.sampled_from(["", *GOOD])))
        if draw(st.booleans()):
            row["lesion_threshold"] = draw(st.sampled_from(["", "0", "127", "254"]))
        rows.append(row)
    if rows and draw(st.booleans()):
        row = draw(st.sampled_from(rows))
        row[draw(st.one_of(columns, st.text(max_size=4)))] = draw(st.one_of(cells, thresholds))
    return rows


@contextlib.contextmanager
def dataset():
    """A fresh tree: root/ with a.png, sub/b.png and a link out to outside/secret.png."""
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        root, outside = base / "root", base / "outside"
        for path in (root / "a.png", root / "sub" / "b.png", outside / "secret.png"):
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (16, 16), (90, 40, 20)).save(path)
        (root / "link.png").symlink_to(outside / "secret.png")
        yield root


def assert_inside(manifest):
    """Every path stays inside the root as written, and wherever a link leads when used."""
    root = str(manifest.root)
    masks = [c for c in manifest.table.columns if c.startswith("mask_")]
    for index in range(len(manifest)):
        values = [manifest.table[c].iat[index] for c in ["path", *masks]]
        for value in filter(None, values):
            written = os.path.normpath(os.path.join(root, value))
            assert written == root or written.startswith(root + os.sep), value
        lesions = [c[len("mask_") :] for c in masks]
        for use in (
            manifest.image_path,
            *(lambda i, x=x: manifest.mask_path(i, x) for x in lesions),
        ):
            try:
                path = use(index)
            except RuraError:
                continue  # a link out of the root, refused where it is used
            if path is not None and not manifest.allow_outside_root:
                real = os.path.realpath(path)
                assert real == root or real.startswith(root + os.sep), (path, real)


def read_or_refuse(read):
    """``read()``'s manifest, checked, or None when it raised a RuraError."""
    try:
        manifest = read()
    except RuraError as error:
        assert "\n" not in str(error).strip(), str(error)
        event(f"refused: {type(error).__name__}")
        return None
    assert isinstance(manifest, Manifest)
    event(f"valid: {min(len(manifest), 2)}+ rows")
    assert_inside(manifest)
    return manifest


def csv_text(rows, drop):
    """``rows`` as CSV text (quoted as a spreadsheet would), less the column ``drop``."""
    header = [c for c in dict.fromkeys(k for row in rows for k in row) if c != drop] or ["id"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, header, extrasaction="ignore")
    writer.writeheader()
    writer.writerows([{k: "" if v is None else str(v) for k, v in row.items()} for row in rows])
    return buffer.getvalue()


texts = st.builds(csv_text, records(), st.sampled_from([None, None, None, "id", "path", "label"]))
#: Text as a file's bytes; a surrogate escape becomes the undecodable byte it stands for.
texts = texts.map(lambda text: text.encode("utf-8", "surrogateescape"))
sidecars = st.one_of(
    st.none(),
    st.binary(max_size=12),
    st.sampled_from(["/", "..", "../..", "../outside", "sub", ".", "a.png"]).map(str.encode),
)


@FAST
@given(data=st.one_of(st.binary(max_size=200), texts), sidecar=sidecars)
def test_read_csv_gives_a_manifest_inside_its_root_or_a_rura_error(data, sidecar):
    with dataset() as root:
        (root / "manifest.csv").write_bytes(data)
        if sidecar is not None:
            (root / "manifest.root").write_bytes(sidecar)
        read_or_refuse(lambda: Manifest.read_csv(root / "manifest.csv"))


anything = st.lists(st.dictionaries(st.one_of(columns, st.text(max_size=4)), cells), max_size=4)


@FAST
@given(rows=st.one_of(records(), anything))
def test_from_records_gives_a_manifest_inside_its_root_or_a_rura_error(rows):
    with dataset() as root:
        read_or_refuse(lambda: Manifest.from_records(rows, root))


@FAST
@given(rows=records())
def test_a_valid_manifest_round_trips_through_its_csv(rows):
    with dataset() as root:
        manifest = read_or_refuse(lambda: Manifest.from_records(rows, root))
        if manifest is not None:
            again = Manifest.read_csv(manifest.to_csv(root / "out" / "manifest.csv"))
            assert again.root == manifest.root
            assert again.table.equals(manifest.table)


@FAST
@given(
    text=texts,
    options=st.fixed_dictionaries(
        {"image_column": st.sampled_from(["path", "path", "path", "id", "x"])},
        optional={
            "label_column": st.sampled_from(["label", "eye", ""]),
            "image_dir": st.sampled_from(["", "sub", "..", "/"]),
            "on_missing": st.sampled_from(["error", "skip", "maybe"]),
            "allow_outside_root": st.sampled_from(["true", "false", "perhaps", True]),
        },
    ),
)
def test_the_csv_reader_gives_a_manifest_inside_its_root_or_a_rura_error(text, options):
    with dataset() as root:
        (root / "labels.csv").write_bytes(text)
        read_or_refuse(lambda: rura.load_dataset("csv", root, **options))


#: File names: mostly text (UTF-8 on disk), sometimes any bytes (undecodable ones too).
names = st.one_of(
    *[st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=8)] * 3,
    st.binary(min_size=1, max_size=8).map(lambda n: n.decode("utf-8", "surrogateescape")),
)
names = names.filter(lambda n: "/" not in n and "\0" not in n and n not in (".", ".."))
suffixes = st.sampled_from([".png", ".png", ".png", ".PNG", ".txt", ""])


@FAST
@given(files=st.lists(st.tuples(names, names, suffixes), max_size=4))
def test_the_folder_reader_gives_a_writable_manifest_or_a_rura_error(files):
    with dataset() as root:
        for label, stem, suffix in files:
            folder = os.path.join(os.fsencode(root / "classes"), os.fsencode(label))
            with contextlib.suppress(OSError):  # a name too long, or a file where a folder is
                os.makedirs(folder, exist_ok=True)
                with open(os.path.join(folder, os.fsencode(stem + suffix)), "wb") as handle:
                    handle.write(b"not decoded here")
        manifest = read_or_refuse(lambda: rura.load_dataset("folder", root / "classes"))
        if manifest is not None:  # its text is UTF-8: it writes and reads back
            again = Manifest.read_csv(manifest.to_csv(root / "classes.csv"), root=manifest.root)
            assert again.table.equals(manifest.table)
