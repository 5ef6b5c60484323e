"""Issue 12: hostile and unlucky input -- read-only corpora, held locks, full disks, wrong types,
non-videos, ingest limits and the CLI's one-line errors (exit code 2)."""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from vcval import media
from vcval.cli import main
from vcval.corpus import Corpus
from vcval.corpus.indexes import SearchIndexes
from vcval.encoders import TextEncoder
from vcval.errors import CorpusBusyError, InvalidInputError, InvalidMediaError, NotFoundError, StorageError
from vcval.ingest.limits import IngestLimits
from vcval.pipeline import build_pipeline

LINES = ["wash your hands with soap and water", "place the sling under the injured arm",
         "tie the sling behind the neck", "check the fingers for circulation"]


def write_transcript(folder: Path, name: str, lines: list[str] = LINES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f"{name}.json"
    p.write_text(json.dumps([{"start": 4.0 * i, "duration": 4.0, "text": t} for i, t in enumerate(lines)]),
                 encoding="utf-8")
    return p


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its sha256 (and every folder), to prove nothing changed."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if rel == ".lock":  # its holder note (pid, host, time) is rewritten by every writer
            continue
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.load(device="cpu")


@pytest.fixture
def built(tmp_path, encoder) -> Path:
    """A corpus directory holding one transcript, closed."""
    root = tmp_path / "corpus"
    with Corpus.open(root, text_encoder=encoder) as c:
        c.add_transcript(write_transcript(tmp_path / "src", "sling"))
    return root


# ---------------------------------------------------------------- read-only corpus
def test_read_only_open_reads_and_writes_nothing(built, encoder, tmp_path):
    before = snapshot(built)
    with Corpus.open(built, text_encoder=encoder, read_only=True) as c:
        assert c.read_only and c.video_ids() == ["sling"]
        assert c.bm25_search("sling neck", 3)
        assert c.unit_encodings("sling") is not None
        with pytest.raises(InvalidInputError, match="read-only"):
            c.add_transcript(write_transcript(tmp_path / "src", "other", LINES[:2]))
        with pytest.raises(InvalidInputError, match="read-only"):
            c.remove("sling")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            c._store._db.execute("INSERT INTO meta(key, value) VALUES ('x', 'y')")
    assert snapshot(built) == before


def test_unwritable_corpus_is_opened_read_only_automatically(built, encoder, monkeypatch):
    """A corpus on a read-only mount (simulated: os.access says not writable; tests run as root)."""
    before = snapshot(built)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode & os.W_OK else real_access(p, mode, **kw))
    with Corpus.open(built, text_encoder=encoder) as c:
        assert c.read_only and len(c) == 1
        qa = build_pipeline(c, "bm25", encoder=encoder)
        assert qa.ask("how do I tie the sling", k=2)
    assert snapshot(built) == before


@pytest.fixture
def read_only_mount(built, tmp_path):
    """``built`` bind-mounted read-only (needs root and mount rights; skipped elsewhere)."""
    target = tmp_path / "ro"
    target.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    mounted = subprocess.run(["mount", "--bind", str(built), str(target)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {mounted.stderr.decode()[:100]}")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount read-only here")
        yield target
    finally:
        subprocess.run(["umount", str(target)], capture_output=True)


def test_readers_work_on_a_read_only_mount(read_only_mount, encoder, built):
    before = snapshot(built)
    with pytest.raises(OSError):
        (read_only_mount / "probe").write_text("x")  # the mount really is read-only
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for argv in (["corpus", "list"], ["ask", "how do I tie the sling", "--method", "bm25", "--k", "2"]):
        proc = subprocess.run([sys.executable, "-m", "vcval.cli", *argv, "--corpus", str(read_only_mount)],
                              capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
        assert "sling" in proc.stdout and "Traceback" not in proc.stderr
    with Corpus.open(read_only_mount, text_encoder=encoder) as c:
        assert c.read_only and c.unit_encodings("sling") is not None
        with pytest.raises(InvalidInputError, match="read-only"):
            c.remove("sling")
    assert snapshot(built) == before


def test_corpus_list_writes_nothing(built, capsys):
    before = snapshot(built)
    assert main(["corpus", "list", "--corpus", str(built)]) == 0
    assert "sling" in capsys.readouterr().out
    assert snapshot(built) == before


def test_create_false_names_the_path_and_creates_nothing(tmp_path):
    typo = tmp_path / "corpsu"
    with pytest.raises(NotFoundError, match=str(typo)):
        Corpus.open(typo, create=False)
    with pytest.raises(NotFoundError, match=str(typo)):
        Corpus.open(typo, read_only=True)
    assert not typo.exists()


# ---------------------------------------------------------------- lock held
HOLD_LOCK = """
import sys, time
from pathlib import Path
from vcval.corpus.files import FileLock
lock = FileLock(Path(sys.argv[1]) / ".lock")
assert lock.acquire(timeout=5)
print("held", flush=True)
time.sleep(60)
"""


@pytest.fixture
def lock_holder(built):
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(built)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_held_lock_names_its_holder_waits_and_gives_up(built, encoder, lock_holder, tmp_path, caplog):
    before = snapshot(built)
    with Corpus.open(built, text_encoder=encoder, lock_timeout=0.3) as c:
        with pytest.raises(CorpusBusyError, match=f"still locked by pid {lock_holder.pid} on host .* after 0 s"):
            c.add_transcript(write_transcript(tmp_path / "src", "other", LINES[:2]))
        assert len(c) == 1
    assert f"locked by pid {lock_holder.pid}" in caplog.text and "waiting up to 0 s" in caplog.text
    assert snapshot(built) == before


def test_cli_lock_timeout_flag_and_env(built, lock_holder, capsys, monkeypatch):
    assert main(["corpus", "remove", "sling", "--corpus", str(built), "--lock-timeout", "0.2"]) == 2
    err = capsys.readouterr().err
    assert f"pid {lock_holder.pid}" in err and "--lock-timeout" in err and "Traceback" not in err
    monkeypatch.setenv("VCVAL_LOCK_TIMEOUT", "0.1")
    assert Corpus.open(built).lock_timeout == 0.1
    assert main(["corpus", "list", "--corpus", str(built)]) == 0  # readers do not wait for the lock


def test_bad_lock_timeout_is_refused(built):
    for bad in (-1, math.nan, "5", True):
        with pytest.raises(InvalidInputError, match="lock timeout"):
            Corpus.open(built, lock_timeout=bad)


# ---------------------------------------------------------------- disk full
def test_enospc_while_saving_indexes_is_a_clear_error_and_changes_nothing(built, encoder, tmp_path, monkeypatch):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    with Corpus.open(built, text_encoder=encoder) as c:
        before = (c.video_ids(), c.generation, c.bm25_search("sling", 5))
        monkeypatch.setattr(SearchIndexes, "save", full)
        with pytest.raises(StorageError, match="no space left.*corpus is unchanged"):
            c.add_transcript(write_transcript(tmp_path / "src", "other", LINES[:2]))
        monkeypatch.undo()
        assert (c.video_ids(), c.generation, c.bm25_search("sling", 5)) == before
    with Corpus.open(built, text_encoder=encoder) as c:
        assert c.video_ids() == ["sling"]


def test_sqlite_disk_full_is_a_clear_error_and_changes_nothing(built, encoder, tmp_path):
    with Corpus.open(built, text_encoder=encoder) as c:
        pages = c._store._db.execute("PRAGMA page_count").fetchone()[0]
        c._store._db.execute(f"PRAGMA max_page_count = {pages}")  # a full disk, as SQLite sees it
        many = [f"line {i} about slings and splints and bandages" for i in range(400)]
        with pytest.raises(StorageError, match="database or disk is full"):
            c.add_transcript(write_transcript(tmp_path / "src", "big", many))
        assert c.video_ids() == ["sling"]
    with Corpus.open(built, text_encoder=encoder) as c:
        assert c.video_ids() == ["sling"] and c.index_stats()["videos"] == 1


@pytest.fixture
def tiny_disk(tmp_path):
    """A 8 MB tmpfs (needs root and mount rights; skipped elsewhere)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def _fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` until about ``leave`` bytes are free."""
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    st = os.statvfs(folder)
    size = (folder / "filler").stat().st_size
    os.truncate(folder / "filler", max(0, size - leave + st.f_bavail * st.f_frsize))


def test_a_really_full_disk_is_a_clear_error_and_changes_nothing(tiny_disk, encoder, tmp_path, video_factory):
    root = tiny_disk / "corpus"
    with Corpus.open(root, text_encoder=encoder) as c:
        c.add_transcript(write_transcript(tmp_path / "src", "sling"))
    video = video_factory("big.mp4", seconds=3.0, size="320x240")
    many = [f"line {i} about slings and splints and bandages and the way to tie them" for i in range(400)]
    big = write_transcript(tmp_path / "src", "big", many)
    _fill(tiny_disk, leave=48_000)
    before = snapshot(root)
    with Corpus.open(root, text_encoder=encoder) as c:
        for add in (lambda: c.add_video(video, visual_features=False), lambda: c.add_transcript(big)):
            with pytest.raises(StorageError, match="no space left"):
                add()
            assert c.video_ids() == ["sling"]
    after = snapshot(root)
    assert {k for k in after.keys() ^ before.keys() if not k.startswith(".staging")} == set()
    assert [k for k in before if k in after and before[k] != after[k]] == []
    (tiny_disk / "filler").unlink()
    with Corpus.open(root, text_encoder=encoder) as c:  # and it works again once there is room
        assert c.add_transcript(big).video_id == "big" and len(c) == 2


# ---------------------------------------------------------------- Python API boundary
@pytest.fixture
def qa(built, encoder):
    c = Corpus.open(built, text_encoder=encoder)
    yield build_pipeline(c, "bm25", encoder=encoder)
    c.close()


@pytest.mark.parametrize("call", [
    lambda c, qa, p: c.add_video(None),
    lambda c, qa, p: c.add_video(123),
    lambda c, qa, p: c.add_video(""),
    lambda c, qa, p: c.add_video(p, title=5),
    lambda c, qa, p: c.add_video(p, video_id="../etc"),
    lambda c, qa, p: c.add_transcript(None),
    lambda c, qa, p: c.add_transcript(p, duration=math.nan),
    lambda c, qa, p: c.add_transcript(p, duration=math.inf),
    lambda c, qa, p: c.add_transcript(p, duration=-1),
    lambda c, qa, p: c.add_transcript(p, duration=1e300),
    lambda c, qa, p: c.add_transcript(p, duration="10"),
    lambda c, qa, p: c.add_transcripts("one.json"),
    lambda c, qa, p: c.add_path(None),
    lambda c, qa, p: c.add_url(None),
    lambda c, qa, p: c.add_url(123),
    lambda c, qa, p: c.remove(None),
    lambda c, qa, p: c.remove("../x"),
    lambda c, qa, p: c.get(5),
    lambda c, qa, p: c.clip("sling", math.nan, 3),
    lambda c, qa, p: c.clip("sling", 0, math.inf),
    lambda c, qa, p: c.clip("sling", -5, 3),
    lambda c, qa, p: c.clip("sling", "0", 3),
    lambda c, qa, p: qa.ask("how to tie a sling", k="5"),
    lambda c, qa, p: qa.ask("how to tie a sling", k=0),
    lambda c, qa, p: qa.ask("how to tie a sling", k=True),
    lambda c, qa, p: qa.ask("how to tie a sling", k=2.5),
    lambda c, qa, p: qa.ask("\ud800"),
    lambda c, qa, p: qa.ask("ab\udcffcd"),
    lambda c, qa, p: qa.ask(None),
    lambda c, qa, p: qa.ask(b"bytes question"),
    lambda c, qa, p: qa.ask("nul\x00byte"),
    lambda c, qa, p: qa.ask("   "),
    lambda c, qa, p: qa.clip("not an answer"),
])
def test_api_misuse_raises_invalid_input_and_changes_nothing(qa, built, tmp_path, call):
    c = qa.corpus
    before = snapshot(built)
    p = write_transcript(tmp_path / "src", "other", LINES[:2])
    with pytest.raises(InvalidInputError):
        call(c, qa, p)
    assert c.video_ids() == ["sling"]
    assert snapshot(built) == before


# ---------------------------------------------------------------- non-videos, limits
def test_png_renamed_mp4_is_refused(tmp_path, encoder):
    png = tmp_path / "image.mp4"
    subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=s=64x48", "-frames:v", "1", "-f", "image2", "-c:v", "png", str(png)], check=True)
    with Corpus.open(tmp_path / "c", text_encoder=encoder) as c:
        with pytest.raises(InvalidMediaError, match="still image"):
            c.add_video(png, visual_features=False)
        assert len(c) == 0


def test_limits_refuse_before_transcoding(tmp_path, encoder, video_factory, monkeypatch):
    video = video_factory("lesson.mp4", seconds=3.0)
    calls = []
    monkeypatch.setattr(media, "normalize", lambda *a, **k: calls.append(a))
    with Corpus.open(tmp_path / "c", text_encoder=encoder) as c:
        for limits, pattern in [(IngestLimits(max_bytes=1000), "MB; the limit here is"),
                                (IngestLimits(max_duration_s=2.0), "3 s long; the limit here is 2 s"),
                                (IngestLimits(max_resolution=(100, 100)), "160x120; the largest frame")]:
            c.limits = limits
            with pytest.raises(InvalidInputError, match=pattern):
                c.add_video(video, visual_features=False)
        assert len(c) == 0 and calls == []


def test_large_video_is_downscaled_before_features(tmp_path, encoder, video_factory):
    video = video_factory("big.mp4", seconds=2.0, size="320x240")
    with Corpus.open(tmp_path / "c", text_encoder=encoder, limits=IngestLimits(normalize_max_height=120)) as c:
        rec = c.add_video(video, visual_features=False)
        info = media.probe(c.media_file(rec.video_id))
    assert (info.width, info.height) == (160, 120)


def test_limits_from_env():
    env = {"VCVAL_MAX_UPLOAD_MB": "50", "VCVAL_MAX_DURATION_S": "600", "VCVAL_MAX_RESOLUTION": "1920x1080",
           "VCVAL_NORMALIZE_MAX_HEIGHT": "480"}
    lim = IngestLimits.from_env(IngestLimits.public(), env)
    assert lim == IngestLimits(max_bytes=50_000_000, max_duration_s=600.0, max_resolution=(1920, 1080),
                               normalize_max_height=480)
    assert IngestLimits.from_env(IngestLimits.public(), {"VCVAL_MAX_UPLOAD_MB": "0"}).max_bytes is None
    assert IngestLimits.from_env(None, {}) == IngestLimits()
    with pytest.raises(InvalidInputError, match="VCVAL_MAX_RESOLUTION"):
        IngestLimits.from_env(None, {"VCVAL_MAX_RESOLUTION": "huge"})


# ---------------------------------------------------------------- CLI: one line per failure, exit 2
def test_folder_ingest_reports_each_failure_once(tmp_path, capsys, video_factory):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.mp4").write_text("this is text, not a video\n")
    (folder / "empty.mp4").write_bytes(b"")
    video_factory("in/good.mp4", seconds=2.0)
    assert main(["ingest", str(folder), "--corpus", str(tmp_path / "c"), "--quiet", "--no-visual"]) == 2
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len([ln for ln in lines if "notes.mp4" in ln]) == 1 and len([ln for ln in lines if "empty.mp4" in ln]) == 1
    for ln in lines:
        assert ln.startswith("error: ") and "Traceback" not in ln
        body = ln[len("error: "):]
        first = body.split(": ", 1)[0]
        assert body.count(first) == 1, ln  # no "error: P: P: ..."
    assert "added good-" in out and "2 failed" in out


def test_cli_bad_inputs_exit_2_with_one_line(tmp_path, capsys, built):
    cases = [
        ["ask", "ab\udcffcd", "--corpus", str(built)],
        ["ask", "", "--corpus", str(built)],
        ["ingest", str(tmp_path / "missing.mp4"), "--corpus", str(tmp_path / "c")],
        ["ingest", "file:///etc/passwd", "--corpus", str(tmp_path / "c")],
        ["corpus", "remove", "nope", "--corpus", str(built)],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, (argv, err)
    main(["corpus", "remove", "nope", "--corpus", str(built)])
    assert f"`vcval corpus list --corpus {built}`" in capsys.readouterr().err


def test_empty_question_is_refused_before_any_model_loads(tmp_path, built):
    code = ("import sys; from vcval.cli import main; rc = main(['ask', '  ', '--corpus', sys.argv[1]]); "
            "assert 'torch' not in sys.modules and 'vcval.encoders' not in sys.modules, 'a model stack was imported'; "
            "sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(built)], capture_output=True, text=True)
    assert proc.returncode == 2 and "question is empty" in proc.stderr and "Traceback" not in proc.stderr


def test_file_names_that_are_not_utf8_are_ingested(tmp_path, capsys, video_factory):
    """Linux file names may hold any bytes: they arrive as surrogate escapes and must not crash anything."""
    folder = tmp_path / "in"
    folder.mkdir()
    odd = os.fsdecode(b"\xffodd")
    write_transcript(folder, odd)
    video_factory("clip.mp4", seconds=2.0).rename(folder / f"{odd}clip.mp4")
    assert main(["ingest", str(folder), "--corpus", str(tmp_path / "c"), "--quiet", "--no-visual"]) == 0
    out = capsys.readouterr().out
    assert out.count("added ") == 2 and "\ufffdodd" in out
    assert main(["corpus", "list", "--corpus", str(tmp_path / "c")]) == 0
