"""The ownership rule: fijirun replaces only files whose content it recorded; nothing lost, nothing crashes.

Each case asserts the folder's file contents (hashes) after the run, the
exception, and that nothing new is left in the temporary folder or the
output folder (staging, temporary record files). A hypothesis test runs
random sequences of runs, failures, user edits and reports on one folder.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fijirun
from fijirun import provenance
from fijirun.batch.inputs import BatchError, collect_inputs
from fijirun.batch.worker import BATCH_RECORD, publish
from fijirun.check import CheckError
from fijirun.check.model import CheckReport
from fijirun.check.report import write_junit
from fijirun.ownership import REPORT_MARK, ReportPathError, folder_state, guard_report, last_failure, write_report
from fijirun.provenance import LOG_CAP, ForeignRecord, load_record
from fijirun.tempdirs import owner_pid

from conftest import run_cli

HEAD = '#@ File (style="directory") outputDir\n'


def save(*names):
    """A macro saving a random 8×8 image under each name (new content each run)."""
    return HEAD + "".join(f'newImage("{n}", "8-bit random", 8, 8, 1);\nsaveAs("Tiff", outputDir + "/{n}");\n'
                          for n in names)


FAIL = HEAD + 'newImage("a", "8-bit random", 8, 8, 1);\nsaveAs("Tiff", outputDir + "/a.tif");\nrun("No Such Thing");\n'


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(folder):
    """Relative path → SHA-256 of every file under ``folder``."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def temp_entries():
    """fijirun's folders in the temp folder that this test could have left.

    Not this process's ImageJ home (removed at exit), nor the folders of other
    live processes (another test session on the machine): fijirun names them
    ``fijirun-<what>-<pid>-*``.
    """
    own = f"fijirun-imagej-{os.getpid()}-"
    found = set()
    for p in Path(tempfile.gettempdir()).iterdir():
        if not p.name.startswith("fijirun-") or p.name.startswith(own):
            continue
        pid = owner_pid(p.name)
        if pid is not None and pid != os.getpid() and Path(f"/proc/{pid}").exists():
            continue  # a live process's own folder
        found.add(p.name)
    return found


def debris(folder):
    """What fijirun must never leave in an output folder: staging, backups, temporary files."""
    return [str(p) for p in Path(folder).rglob("*")
            if p.name.startswith((".fijirun-staging-", ".fijirun-replaced-")) or p.name.endswith(".tmp")]


@pytest.fixture
def clean_temp():
    before = temp_entries()
    yield
    assert temp_entries() - before == set()


def unsaved(folder):
    return sorted(p for p in Path(folder).iterdir() if p.name.startswith("fijirun-unsaved-"))


# ---------------------------------------------------------------- the cases found by a user

def test_edited_output_is_never_replaced(ij_session, tmp_path, clean_temp):
    out = tmp_path / "out"
    ij_session.run_code(save("a.tif"), "ijm", output_dir=out)
    (out / "a.tif").write_bytes(b"edited by the user")
    before = snapshot(out)
    with pytest.raises(fijirun.OutputExistsError, match=r"a\.tif") as info:
        ij_session.run_code(save("a.tif"), "ijm", output_dir=out)
    after = snapshot(out)
    assert {k: after[k] for k in before} == before            # nothing of the folder changed
    [keep] = unsaved(out)
    assert str(keep) in str(info.value) and (keep / "a.tif").is_file()
    assert set(after) - set(before) == {"run.failed.json", "run.failed.log", f"{keep.name}/a.tif"}
    failed = json.loads((out / "run.failed.json").read_text())
    assert failed["status"] == "failed" and failed["error"]["type"] == "OutputExistsError"
    assert failed["kept_aside"]["outputs"][0]["sha256"] == digest(keep / "a.tif")
    assert debris(out) == []


def test_own_outputs_replaced_and_earlier_ones_stay_owned(ij_session, tmp_path, clean_temp):
    out = tmp_path / "out"
    ij_session.run_code(save("a.tif", "b.tif"), "ijm", output_dir=out)
    ij_session.run_code(save("a.tif"), "ijm", output_dir=out)        # b.tif stays, still fijirun's
    record = json.loads((out / "run.json").read_text())
    assert [o["path"] for o in record["earlier_outputs"]] == ["b.tif"]
    r = ij_session.run_code(save("b.tif"), "ijm", output_dir=out)    # so it may be replaced
    assert r.ok and json.loads((out / "run.json").read_text())["outputs"][0]["sha256"] == digest(out / "b.tif")
    assert debris(out) == []


@pytest.mark.parametrize("content", ['{"my": "notes"}', "[1, 2, 3]", "not json at all", ""])
def test_foreign_run_json_fails_before_anything(ij_session, tmp_path, clean_temp, content):
    out = tmp_path / "out"
    out.mkdir()
    (out / "result.tif").write_bytes(b"the user's")
    (out / "run.json").write_text(content)
    before = snapshot(out)
    with pytest.raises(fijirun.OutputExistsError, match="run.json") as info:
        ij_session.run_code(save("a.tif"), "ijm", output_dir=out)
    assert "not" in str(info.value)
    assert snapshot(out) == before and sorted(os.listdir(out)) == ["result.tif", "run.json"]


def test_edited_run_json_is_foreign(ij_session, tmp_path, clean_temp):
    out = tmp_path / "out"
    ij_session.run_code(save("a.tif"), "ijm", output_dir=out)
    record = json.loads((out / "run.json").read_text())
    record["parameters"]["note"] = "I ran it with other settings"
    (out / "run.json").write_text(json.dumps(record))
    before = snapshot(out)
    with pytest.raises(fijirun.OutputExistsError, match="changed since fijirun wrote it"):
        ij_session.run_code(save("a.tif"), "ijm", output_dir=out)
    assert snapshot(out) == before


def test_script_saving_its_own_run_json_fails_and_keeps_it(ij_session, tmp_path, clean_temp):
    out = tmp_path / "out"
    code = HEAD + 'File.saveString("{\\"mine\\": 1}", outputDir + "/run.json");\n' + save("a.tif")[len(HEAD):]
    with pytest.raises(fijirun.OutputExistsError, match="the script saved run.json") as info:
        ij_session.run_code(code, "ijm", output_dir=out)
    [keep] = unsaved(out)
    assert str(keep) in str(info.value)
    assert json.loads((keep / "run.json").read_text()) == {"mine": 1} and (keep / "a.tif").is_file()
    assert not (out / "run.json").exists() and not (out / "a.tif").exists()
    assert json.loads((out / "run.failed.json").read_text())["status"] == "failed"
    assert debris(out) == []


def test_failed_run_never_rewrites_a_good_record(ij_session, tmp_path, clean_temp):
    out = tmp_path / "out"
    ij_session.run_code(save("a.tif"), "ijm", output_dir=out)
    good = snapshot(out)
    with pytest.raises(fijirun.UnrecognizedCommandError):
        ij_session.run_code(FAIL, "ijm", output_dir=out)
    after = snapshot(out)
    assert {k: after[k] for k in good} == good                  # run.json, run.log, a.tif untouched
    assert set(after) - set(good) == {"run.failed.json", "run.failed.log"}
    failed = json.loads((out / "run.failed.json").read_text())
    assert failed["status"] == "failed" and failed["error"]["partial_outputs"] == ["a.tif"]
    # check never passes a folder whose last run failed, and says why
    report = fijirun.check(out)
    assert report.verdict == "fail" and report.outputs[0].path == "run.failed.json"
    assert "the last run failed: UnrecognizedCommandError" in report.outputs[0].reason
    code, stdout, _ = run_cli("check", out, "--json")
    assert code == 1 and json.loads(stdout)["verdict"] == "fail"
    # the good run's files do not block the next run, whose success is the last word
    r = ij_session.run_code(save("a.tif"), "ijm", output_dir=out)
    assert r.ok and last_failure(folder_state(out)) is None
    assert not any(o.kind == "run" for o in fijirun.check(out).outputs)


def test_reports_never_overwrite_a_run(ij_session, tmp_path, clean_temp):
    out = tmp_path / "out"
    ij_session.run_code(save("a.tif"), "ijm", output_dir=out)
    before = snapshot(out)
    code, _, err = run_cli("check", out, "--html", out / "run.json")
    assert code == 2 and "would overwrite a run record" in err
    code, _, err = run_cli("check", out, "--junit", out / "a.tif")
    assert code == 2 and "would overwrite a.tif, an output of the run" in err
    for name in ("run.log", "run.failed.json"):
        with pytest.raises(CheckError):
            write_junit(CheckReport(outdir=out), out / name)
    assert snapshot(out) == before
    write_junit(CheckReport(outdir=out), out / "check.xml")   # beside the outputs: allowed
    with pytest.raises(ReportPathError):                       # regress reports: the same rule
        guard_report(out / "a.tif", "HTML report")


def test_reports_replace_only_their_own_files(ij_session, tmp_path, clean_temp):
    out = tmp_path / "out"
    ij_session.run_code(save("a.tif"), "ijm", output_dir=out)
    reports = tmp_path / "reports"
    reports.mkdir()
    mine = {"report.html": b"<html>my notes</html>\n", "junit.xml": b"<?xml version='1.0'?><mine/>\n"}
    for name, content in mine.items():
        (reports / name).write_bytes(content)
    for option, name in (("--html", "report.html"), ("--junit", "junit.xml")):
        code, stdout, err = run_cli("check", out, option, reports / name)
        assert code == 2 and err.count("\n") == 1, err
        assert f"{reports / name} would replace a file fijirun did not write" in err
    # regress refuses before it runs anything: no output folder made
    course = tmp_path / "course"
    course.mkdir()
    (course / "a.ijm").write_text('print("never runs");\n')
    code, _, err = run_cli("regress", course, "-o", tmp_path / "reg", "--html", reports / "report.html")
    assert code == 2 and "would replace a file fijirun did not write" in err and not (tmp_path / "reg").exists()
    assert {n: (reports / n).read_bytes() for n in mine} == mine
    # a report fijirun wrote is replaced by its next one, atomically (no temporary file left)
    for option, name in (("--html", "new.html"), ("--junit", "new.xml")):
        for _ in range(2):
            code, _, err = run_cli("check", out, option, reports / name)
            assert code == 0, err
            assert REPORT_MARK in (reports / name).read_text()[:4096]
    assert sorted(p.name for p in reports.iterdir()) == ["junit.xml", "new.html", "new.xml", "report.html"]
    # a link or a folder at the path: refused, the link's target untouched
    (reports / "link.html").symlink_to(reports / "new.html")
    (reports / "dir.html").mkdir()
    before = snapshot(reports)
    for name in ("link.html", "dir.html"):
        with pytest.raises(ReportPathError, match="exists and is not a regular file"):
            write_report(reports / name, f"<!DOCTYPE html>\n{REPORT_MARK}\n", "HTML report")
    assert snapshot(reports) == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=6000), st.integers(min_value=0, max_value=8000))
def test_a_file_is_a_report_only_with_the_mark_near_its_start(tmp_path, content, at):
    path = tmp_path / "r.html"
    mark = REPORT_MARK.encode()
    content = content.replace(mark, b"")
    cut = min(at, len(content))
    for data in (content, content[:cut] + mark + content[cut:]):
        path.write_bytes(data)
        ours = mark in data[:4096]
        try:
            write_report(path, f"<!DOCTYPE html>\n{REPORT_MARK}\nnew\n", "HTML report")
        except ReportPathError as exc:
            assert not ours and "fijirun did not write" in str(exc)
            assert path.read_bytes() == data  # never replaced, never half-written
        else:
            assert ours and path.read_text().endswith("new\n")


@pytest.mark.parametrize("record", ["run.json", "run.failed.json"])
def test_a_pipe_named_like_a_record_is_refused_never_opened(ij_session, tmp_path, clean_temp, record):
    # reading it waited for a writer: check, run and a report beside it hung
    out = tmp_path / "out"
    ij_session.run_code(save("a.tif"), "ijm", output_dir=out)
    (out / record).unlink(missing_ok=True)
    os.mkfifo(out / record)
    code, stdout, err = run_cli("check", out, "--json", timeout=60)
    verdict = json.loads(stdout)["verdict"]
    # the same verdict as with a folder of that name (no record either way)
    twin = tmp_path / "twin"
    shutil.copytree(out, twin, ignore=shutil.ignore_patterns(record))
    (twin / record).mkdir()
    twin_code, twin_stdout, _ = run_cli("check", twin, "--json", timeout=60)
    assert (code, verdict) == (twin_code, json.loads(twin_stdout)["verdict"]), (stdout, err)
    code, _, err = run_cli("check", out, "--html", out / "report.html", timeout=60)
    assert code == twin_code and (out / "report.html").is_file(), err
    with pytest.raises(fijirun.OutputExistsError, match="is not a regular file"):
        ij_session.run_code(save("b.tif"), "ijm", output_dir=out)
    assert stat.S_ISFIFO(os.lstat(out / record).st_mode) and not (out / "b.tif").exists()


def test_disk_full_while_writing_the_record(ij_session, tmp_path, clean_temp, monkeypatch):
    out = tmp_path / "out"
    ij_session.run_code(save("a.tif"), "ijm", output_dir=out)
    before = snapshot(out)
    real = provenance._fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    for target in ("run.log", "run.json"):
        monkeypatch.setattr(provenance, "_fdopen",
                            lambda fd, mode, target=target, **kw: Full(real(fd, mode, **kw))
                            if os.readlink(f"/proc/self/fd/{fd}").split("/")[-1].startswith(f".{target}.")
                            else real(fd, mode, **kw))
        with pytest.raises(fijirun.OutputDirError, match="No space left on device.*nothing was published"):
            ij_session.run_code(save("a.tif") + 'print("a Log line");\n', "ijm", output_dir=out)
        monkeypatch.setattr(provenance, "_fdopen", real)
        after = snapshot(out)
        assert {k: after[k] for k in before} == before          # outputs and record as they were
        assert all(k in before or k.startswith(("fijirun-unsaved-", "run.failed.")) for k in after)
        assert debris(out) == []
        keep = unsaved(out)[-1]
        assert (keep / "a.tif").is_file()                         # the new outputs, kept aside
    assert last_failure(folder_state(out)) is not None           # the failure is recorded


def test_rename_failure_rolls_back(ij_session, tmp_path, clean_temp, monkeypatch):
    out = tmp_path / "out"
    ij_session.run_code(save("a.tif", "b.tif"), "ijm", output_dir=out)
    before = snapshot(out)
    real = os.replace

    def replace(src, dst):
        if Path(dst).name == "run.json" and Path(dst).parent == out and Path(src).name.endswith(".tmp"):
            raise OSError(errno.EIO, "simulated")  # the new record's rename; putting the old one back works
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(fijirun.OutputDirError, match="nothing was published"):
        ij_session.run_code(save("a.tif", "b.tif"), "ijm", output_dir=out)
    monkeypatch.setattr(os, "replace", real)
    after = snapshot(out)
    assert {k: after[k] for k in before} == before and debris(out) == []
    assert all(k in before or k.startswith(("fijirun-unsaved-", "run.failed.")) for k in after)


def test_files_follow_the_umask(ij_session, tmp_path, clean_temp):
    old = os.umask(0o027)
    try:
        out = tmp_path / "out"
        ij_session.run_code(save("a.tif"), "ijm", output_dir=out)
        provenance.write_json_atomic(tmp_path / "manifest.json", {"x": 1})
        for p in (out / "run.json", out / "run.log", tmp_path / "manifest.json"):
            assert stat.S_IMODE(p.stat().st_mode) == 0o640, p
    finally:
        os.umask(old)


def test_log_in_full_beside_the_record_capped_inside(ij_session, tmp_path, clean_temp):
    out = tmp_path / "out"
    line = "x" * 999
    code = HEAD + f'for (i = 0; i < 300; i++) print(i + " {line}");\n'
    r = ij_session.run_code(code, "ijm", output_dir=out)
    log = (out / "run.log").read_text()
    assert log == r.log and len(log) > 4 * LOG_CAP
    record = json.loads((out / "run.json").read_text())
    assert record["log_file"]["sha256"] == digest(out / "run.log")
    assert record["log_truncated"] and record["log"].startswith(r.log[:LOG_CAP])
    assert "the whole Log is in run.log" in record["log"] and len(record["log"]) < LOG_CAP + 200
    assert (out / "run.json").stat().st_size < 2 * LOG_CAP


def test_batch_never_takes_its_outputs_as_inputs(tmp_path):
    (tmp_path / "img.tif").write_bytes(b"II*\0")
    out = tmp_path / "out"
    (out / "img-12345678").mkdir(parents=True)
    (out / "img-12345678" / "img_labels.tif").write_bytes(b"II*\0")
    items = collect_inputs([tmp_path], output=out)
    assert [i.path for i in items] == [tmp_path / "img.tif"]
    assert [i.path for i in collect_inputs([str(tmp_path / "**" / "*.tif")], output=out)] == [tmp_path / "img.tif"]
    with pytest.raises(BatchError, match="inside the output folder"):
        collect_inputs([out / "img-12345678" / "img_labels.tif"], output=out)
    # without it the outputs would be inputs (as before)
    assert len(collect_inputs([tmp_path])) == 2


def _image_attempt(session, folder, names=("a.tif",)):
    """A finished image folder as a batch worker makes it: a real run, then batch.json."""
    session.run_code(save(*names), "ijm", output_dir=folder)
    entry = {"name": folder.name, "status": "ok", "outputs": [], "error": None}
    (folder / BATCH_RECORD).write_text(json.dumps(entry))
    return folder


def test_batch_replaces_an_image_folder_only_when_all_of_it_is_fijiruns(ij_session, tmp_path, clean_temp):
    out = tmp_path / "out"
    final = _image_attempt(ij_session, out / "img-1")
    publish(_image_attempt(ij_session, tmp_path / "attempt2"), final)
    assert not (tmp_path / "attempt2").exists()
    assert json.loads((final / "run.json").read_text())["status"] == "ok" and unsaved(out) == []

    # a person's note, then an edited output: each keeps the folder as it is
    for change in ("notes.txt", "a.tif"):
        (final / change).write_bytes(b"mine")
        before = snapshot(final)
        with pytest.raises(fijirun.OutputExistsError, match=f"img-1/{change} was not written by fijirun"):
            publish(_image_attempt(ij_session, tmp_path / f"attempt-{change}"), final)
        assert snapshot(final) == before
        kept = unsaved(out)
        assert len(kept) == 1 and (kept[0] / "run.json").is_file() and (kept[0] / "a.tif").is_file()
        shutil.rmtree(kept[0])
        (final / change).unlink()
        if change == "a.tif":
            break
        publish(_image_attempt(ij_session, tmp_path / "attempt3"), final)  # fijirun's again
    # a folder of the image's name that fijirun never made (no record): never replaced
    mine = out / "img-2"
    mine.mkdir()
    (mine / "analysis.csv").write_text("a,b\n1,2\n")
    with pytest.raises(fijirun.OutputExistsError, match="analysis.csv"):
        publish(_image_attempt(ij_session, tmp_path / "attempt4"), mine)
    assert (mine / "analysis.csv").read_text() == "a,b\n1,2\n" and sorted(os.listdir(mine)) == ["analysis.csv"]


# ---------------------------------------------------------------- property: any sequence of operations

NAMES = ("a.tif", "b.tif")
USER_NAMES = NAMES + ("run.json", "run.log", "run.failed.json", "notes.txt")
REPORT_NAMES = ("report.xml", "run.json", "run.log", "a.tif")

_good = st.tuples(st.just("good"), st.sets(st.sampled_from(NAMES), min_size=1).map(sorted))
_edit = st.tuples(st.just("user"), st.sampled_from(NAMES))  # most often: the user edits an output
# weighted by repetition: runs and edits of outputs are the interesting interleavings
operations = st.one_of(
    _good, _good, _good,
    st.tuples(st.just("fail"), st.none()),
    _edit, _edit,
    st.tuples(st.just("user"), st.sampled_from(USER_NAMES)),
    st.tuples(st.just("report"), st.sampled_from(REPORT_NAMES)),
)


def _claims_hold(out, user, record_step):
    for name in ("run.json", "run.failed.json"):
        try:
            record = load_record(out / name)
        except ForeignRecord:
            continue  # the user's file now
        if record is None:
            continue
        claims = [(o["path"], o["sha256"]) for o in record["outputs"] + record.get("earlier_outputs", [])]
        claims.append((record["log_file"]["path"], record["log_file"]["sha256"]))
        for path, sha in claims:
            if path in user and user[path][1] > record_step[name]:
                continue  # the user changed it after fijirun recorded it
            assert (out / path).is_file() and digest(out / path) == sha, (name, path)


@settings(max_examples=30, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(operations, min_size=2, max_size=10))
def test_property_nothing_lost_records_true(ij_session, ops):
    temp_before = temp_entries()
    out = Path(tempfile.mkdtemp(prefix="own-prop-"))
    try:
        user = {}                # path -> (bytes the user wrote, step)
        record_step = {"run.json": -1, "run.failed.json": -1}
        foreign = set()          # names whose content fijirun did not write (the user's, reports)
        reports = {}             # name -> the bytes of the report written there
        for step, (op, arg) in enumerate(ops):
            records_before = {n: (out / n).read_bytes() if (out / n).is_file() else None for n in record_step}
            blocked = bool(foreign & set(provenance.RECORD_FILES))  # a record file is not fijirun's
            if op == "good":
                expect_refusal = blocked or bool(foreign & set(arg))
                try:
                    ij_session.run_code(save(*arg), "ijm", output_dir=out)
                    assert not expect_refusal, f"step {step}: replaced {foreign & set(arg)}"
                    foreign -= set(arg)
                except fijirun.OutputExistsError:
                    # refused exactly when a file in the way is not fijirun's
                    assert expect_refusal, f"step {step}: fijirun's own files blocked the run"
            elif op == "fail":
                try:
                    ij_session.run_code(FAIL, "ijm", output_dir=out)
                    raise AssertionError("the failing macro succeeded")
                except fijirun.UnrecognizedCommandError:
                    assert not blocked
                    assert last_failure(folder_state(out)) is not None
                except fijirun.OutputExistsError:
                    assert blocked  # a record file is the user's: refused before running
            elif op == "user":
                content = f"the user's {arg} at step {step}\n".encode()
                (out / arg).write_bytes(content)
                user[arg] = (content, step)
                foreign.add(arg)
            else:
                claimed = arg in ("run.json", "run.log") or arg in folder_state(out).owned
                old = (out / arg).read_bytes() if (out / arg).is_file() else None
                # a report replaces nothing but the report it wrote there, unchanged since
                refused = claimed or (old is not None and old != reports.get(arg))
                try:
                    write_junit(CheckReport(outdir=out), out / arg)
                    assert not refused, f"a report overwrote {arg}"
                    foreign.add(arg)
                    reports[arg] = (out / arg).read_bytes()
                except CheckError:
                    assert refused
                    assert ((out / arg).read_bytes() if (out / arg).is_file() else None) == old
            for n in record_step:
                now = (out / n).read_bytes() if (out / n).is_file() else None
                if now != records_before[n] and op != "user":
                    record_step[n] = step
            # 1. no file the user wrote or edited was changed
            for path, (content, _) in user.items():
                assert (out / path).read_bytes() == content, f"step {step} {op} {arg}: {path} changed"
            # 2. every file fijirun claims exists with its recorded hash
            _claims_hold(out, user, record_step)
            # 3. check never passes a folder whose last run failed
            if last_failure(folder_state(out)) is not None:
                try:
                    assert fijirun.check(out).verdict != "pass"
                except CheckError:
                    pass
            assert debris(out) == []
    finally:
        shutil.rmtree(out, ignore_errors=True)
    assert temp_entries() - temp_before == set()
