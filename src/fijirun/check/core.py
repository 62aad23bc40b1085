"""``check(outdir)``: discover, recover, compute the reference, compare, lint."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..ownership import folder_state, last_failure
from ..provenance import FAILED_RECORD, RUN_RECORD, read_run_record
from ..reference import COLUMNS, analyze_particles, read_calibration
from . import compare, lint
from .discover import discover
from .model import FAIL, PASS, WARN, CheckError, CheckReport, OutputVerdict
from .recorded import analysis_for, recorded_analyses, validate_analyses
from .recover import Spec, keys_from_columns, load_image, particle_image, recover

__all__ = ["check"]

_DEFAULT_KEYS = "area centroid"


#: The shapes of the run.json entries the checker reads (a hand-edited record must fail
#: with a clear CheckError, not a TypeError deep inside).
_RECORD_SHAPES = {"outputs": list, "inputs": list, "commands": list, "analyses": list, "parameters": dict,
                  "script": dict, "state": dict}


def _read_record(outdir):
    path = Path(outdir) / RUN_RECORD
    try:
        record = read_run_record(outdir)
    except (OSError, ValueError) as exc:
        raise CheckError(f"cannot read {path}: {exc}") from None
    if record is None:
        return None
    for key, kind in _RECORD_SHAPES.items():
        value = record.get(key)
        if value is not None and not isinstance(value, kind):
            raise CheckError(f"cannot read {path}: its {key!r} is a JSON {type(value).__name__}, "
                             f"not {'an array' if kind is list else 'an object'}")
    for key in ("outputs", "inputs", "commands", "analyses"):
        for entry in record.get(key) or []:
            if not isinstance(entry, dict) or (key in ("outputs", "inputs") and not isinstance(entry.get("path"), str)):
                raise CheckError(f"cannot read {path}: an entry of its {key!r} is not an object"
                                 + (" with a text 'path'" if key in ("outputs", "inputs") else "")
                                 + f": {json.dumps(entry)[:80]}")
    validate_analyses(record, outdir, str(path))
    return record


def _pick_mask(stored):
    """The saved mask to derive particles from: lossless, not RGB, TIFF first."""
    usable = [(p, s) for p, s in stored.items() if s is not None and not s.lossy and not s.rgb]
    usable.sort(key=lambda ps: (ps[1].format != "TIFF", -ps[1].bits, str(ps[0])))
    return usable[0][1].values if usable else None


def _validate_given(outdir, options, measurements, threshold):
    """The checks the command line makes of its options (:mod:`fijirun.arguments`), for the API.

    Raises
    ------
    CheckError
        Naming the parameter, with the command line's message.
    """
    from ..arguments import UsageError, analyze_options, measurement_keys, threshold_range

    if not isinstance(outdir, (str, os.PathLike)):
        raise CheckError(f"outdir: expected a folder path, got {type(outdir).__name__} {outdir!r}")
    try:
        if options is not None:
            analyze_options(options, "options")
        if measurements is not None:
            measurement_keys(measurements, "measurements")
        if threshold is not None:
            threshold_range(threshold, "threshold")
    except UsageError as exc:
        raise CheckError(str(exc)) from None


def check(outdir, image=None, *, options=None, measurements=None, threshold=None, exclude=()):
    """The work of :func:`fijirun.check.check` (documented there), imported on first use."""
    _validate_given(outdir, options, measurements, threshold)
    outdir = Path(outdir)
    if not outdir.is_dir():
        raise CheckError(f"no such output folder: {outdir}")
    record = _read_record(outdir)
    # an image given by name must be readable: never the saved mask's foreground in its place
    given_image = load_image(image) if image is not None else None
    failure = last_failure(folder_state(outdir))
    found = discover(outdir, record, exclude=exclude)
    report = CheckReport(outdir=outdir.resolve(), run_record=record)
    given = any(v is not None for v in (image, options, measurements, threshold))
    # the engine's record of each particle analysis first; explicit options override it
    recorded = [] if given else recorded_analyses(outdir, record)
    spec = Spec() if recorded else recover(record, image=image, options=options, measurements=measurements,
                                            threshold=threshold)
    if failure is not None:  # the folder's last run failed: whatever is there, it never passes
        where, failure = failure
        error = failure.get("error") or {}
        v = OutputVerdict(where, "run")
        v.add(FAIL, f"the last run failed: {error.get('type', 'error')}: {error.get('message', '')}"
                    + (f" (line {error['line']})" if error.get("line") else "")
                    + (f"; the outputs here are an earlier run's ({RUN_RECORD})" if record is not None
                       and where == FAILED_RECORD else ""))
        v.details["error"] = error
        report.outputs.append(v)

    # ---- read what was saved
    stored = {}
    mask_errors = {}
    for rel in found.masks + found.images:
        try:
            stored[rel] = lint.read_stored_image(outdir / rel)
        except CheckError as exc:
            stored[rel] = None
            mask_errors[rel] = str(exc)

    # ---- the reference
    if recorded:
        first = next((item for item in recorded if item.reference is not None), None)
        # the (first) analysis's facts at the top, as a recovered check reports them; all in "analyses"
        report.recovered = dict((first or recorded[0]).describe(), mode="recorded",
                                analyses=[item.describe() for item in recorded])
        report.reference = first.reference if first else None
        report.image = first.pixels if first else None
        for item in recorded:
            if item.reference is None:
                report.assumptions.append(f"no reference for analysis {item.index}: {item.why}")
            if item.altered:  # the record's own evidence was altered: never a pass or a warning
                v = OutputVerdict("(snapshot)", "run")
                v.add(FAIL, f"analysis {item.index}: {item.why}; its outputs cannot be checked")
                report.outputs.append(v)
            elif item.missing:
                v = OutputVerdict("(snapshot)", "run")
                v.add(FAIL, f"analysis {item.index}: {item.why}; its outputs cannot be checked")
                report.outputs.append(v)
            elif item.input_instead is not None:
                v = OutputVerdict("(reference)", "run")
                v.add(WARN, f"analysis {item.index}: its snapshot is missing; the reference analyses the "
                            f"recorded input {item.input_instead} (unchanged since the run), as if nothing "
                            "changed its pixels before the analysis")
                report.outputs.append(v)
        for item in recorded:
            if item.selection is not None and item.reference is not None:
                # measured inside a selection (often one ImageJ restored from the image file)
                v = OutputVerdict("(selection)", "run")
                which = f"analysis {item.index}: " if len(recorded) > 1 else ""
                v.add(WARN, f"{which}Analyze Particles measured inside a selection "
                            f"({', '.join(map(str, item.selection))}): {len(item.reference.table)} of "
                            f"{item.whole_particles} particles of the whole image")
                report.outputs.append(v)
    else:
        _legacy_reference(report, spec, outdir, stored, found, given_image)

    def reference_for(rel):
        """(reference, why none, decimals, pixel size) for an output."""
        if recorded:
            item = analysis_for(recorded, rel)
            # positions are in the units ImageJ measured them with (the redirect image's when
            # redirected): the largest pixel of both calibrations bounds the matching tolerance
            return item.reference, item.why, item.analysis.get("decimals"), item.pixel_size
        cal = spec.calibration
        pixel = max(cal.pixel_width, cal.pixel_height) if cal is not None else 1.0
        return report.reference, report.recovered.get("reference_error"), spec.decimals, pixel

    def summary_rows(rel, reference):
        """For each Summary row from the last up: (reference, analysed area, image title), or None.

        A Summary table gets one row per analysis with *summarize*: the last is the analysis
        that wrote the file; those before it are the run's earlier summarizing analyses.
        """
        if recorded:
            item = analysis_for(recorded, rel)
            upto = recorded[:recorded.index(item) + 1]
            chain = [i for i in upto if "summarize" in (i.analysis.get("flags") or []) or i is item]
            return [None if i.reference is None else
                    (i.reference, i.total_area, (i.analysis.get("image") or {}).get("title"))
                    for i in reversed(chain)]
        cal = spec.calibration
        pw, ph = (cal.pixel_width, cal.pixel_height) if cal is not None else (1.0, 1.0)
        return [(reference, reference.count_mask.size * pw * ph, None)]

    def not_reproduced(rel, summary=False):
        """Column -> why the reference cannot give ImageJ's value, for the analysis behind an output.

        With ``summary``: for every analysis up to it (a Summary table holds their rows).
        """
        if not recorded:
            return {}
        item = analysis_for(recorded, rel)
        items = recorded[:recorded.index(item) + 1] if summary else [item]
        found = {}
        for i in items:
            found.update(i.not_reproduced)
        return found

    def show_of(rel):
        """The *show* option recorded for the analysis behind an output (None: not recorded)."""
        item = analysis_for(recorded, rel)
        return None if item is None else item.analysis.get("show")

    def count_masks_of(rel):
        """Whether the run recorded the analysis behind this mask as one showing Count Masks."""
        return show_of(rel) == "Count Masks"

    def _signed_decimals(rel, decimals):
        """The Results table's precision: negative with *Scientific notation* (ImageJ's own sign)."""
        item = analysis_for(recorded, rel) if recorded else None
        keys = ((item.analysis.get("measurements") or "") if item is not None else "").split()
        return -decimals if decimals and "scientific" in keys else decimals

    def no_reference(v, why):
        v.add(WARN, f"not compared: {why}")

    if not recorded and (found.tables or found.rois or found.masks):
        # recovered from the script and its commands, not recorded: never a full pass
        v = OutputVerdict("(reference)", "run")
        v.add(WARN, "partial check: no record of the particle analysis (outputs made elsewhere, or by an "
                    "older fijirun); the reference was recovered from the script, its commands and "
                    "parameters" + (" with the options given" if given else ""))
        report.outputs.append(v)

    # ---- tables
    for rel in found.tables:
        v = OutputVerdict(str(rel), "table")
        report.outputs.append(v)
        reference, why_none, decimals, pixel = reference_for(rel)
        try:
            sep = lint.lint_table(v, outdir / rel,
                                  expected_rows=len(reference.table) if reference is not None else None)
            if sep is None:
                continue
            head, _ = compare.read_table_text(outdir / rel)
            if reference is None:
                no_reference(v, why_none)
            elif "Count" in head.columns and ("Slice" in head.columns or "Total Area" in head.columns):
                # a Summary table is a new ResultsTable: never in scientific notation
                compare.compare_summary(v, outdir / rel, summary_rows(rel, reference), decimals,
                                        not_reproduced=not_reproduced(rel, summary=True))
            else:
                compare.compare_table(v, outdir / rel, reference, pixel_size=pixel,
                                      decimals=_signed_decimals(rel, decimals),
                                      not_reproduced=not_reproduced(rel))
        except CheckError as exc:
            v.add(FAIL, str(exc))

    # ---- ROI sets
    roi_sets = {}
    for rel in found.rois:
        v = OutputVerdict(str(rel), "rois")
        report.outputs.append(v)
        rois = lint.lint_rois(v, outdir / rel)
        if rois is None:
            continue
        roi_sets[rel] = rois
        v.data["rois"] = rois
        reference, why_none, _, _ = reference_for(rel)
        if reference is None:
            no_reference(v, why_none)
        else:
            compare.compare_rois(v, rois, reference)

    # ---- label masks
    for rel in found.masks:
        v = OutputVerdict(str(rel), "mask")
        report.outputs.append(v)
        s = stored.get(rel)
        if s is None:
            v.add(FAIL, mask_errors.get(rel, f"cannot read {rel}"))
            continue
        usable = lint.lint_mask(v, s)
        reference, why_none, _, _ = reference_for(rel)
        if reference is None:
            no_reference(v, why_none)
            v.data["saved"] = s.values
            continue
        if not usable:
            mapping = (compare.label_mapping(s.values, reference.count_mask)
                       if s.values.shape == reference.count_mask.shape else None)
            v.details["particles_distinguishable"] = mapping is not None
            v.data.update(saved=s.values, reference=reference.count_mask)
            v.data["diff"] = (np.zeros(reference.count_mask.shape, bool) if mapping is not None
                              else None)
            continue
        if show_of(rel) == "Masks":  # the analysis recorded show=Masks: a binary image, not labels
            compare.compare_binary_mask(v, s.values, reference.count_mask, lossy=s.lossy)
            continue
        compare.compare_mask(v, s.values, reference.count_mask, bits=s.bits, lossy=s.lossy,
                             strict_numbering=bool(recorded) and count_masks_of(rel))
        if not s.lossy and s.values.shape == reference.count_mask.shape:
            for rrel, rois in roi_sets.items():
                if len(rois) != int(s.values.max()):
                    continue
                agreement, _ = compare.mask_roi_agreement(s.values, rois)
                v.details[f"agreement_with_{rrel}"] = round(agreement, 6)
                if agreement >= compare.IOU_MIN:
                    v.add(PASS, f"agrees with the ROI set {rrel} ({agreement:.1%} of particle pixels)")
                else:
                    v.add(WARN, f"disagrees with the ROI set {rrel}: only {agreement:.1%} of particle "
                                "pixels lie in the ROI of their label")
                break

    # ---- other images, missing outputs
    for rel in found.images:
        v = OutputVerdict(str(rel), "image")
        report.outputs.append(v)
        if stored.get(rel) is None:
            v.add(FAIL, mask_errors.get(rel, f"cannot read {rel}"))
        else:
            lint.lint_image(v, stored[rel])
    empty_results = _empty_results_saves(record, outdir, recorded)
    for rel in found.missing:
        from ..outputs import output_kind

        kind = output_kind(rel)
        v = OutputVerdict(str(rel), {"image": "mask"}.get(kind, kind))
        report.outputs.append(v)
        if str(rel) in empty_results:
            # ImageJ's saveAs("Results") writes no file for an empty Results table (MeasurementsWriter)
            item = empty_results[str(rel)]
            if item.reference is None:
                v.add(WARN, "not written: the Results table was empty after the analysis (0 rows); "
                            f"not compared: {item.why}")
            elif len(item.reference.table) == 0:
                v.add(PASS, "not written, as ImageJ does for an empty Results table: the analysis found "
                            "no particle, as the reference")
            else:
                v.add(FAIL, f"missing: the analysis left an empty Results table, the reference finds "
                            f"{len(item.reference.table)} particles")
            continue
        v.add(FAIL, "missing: declared by the run but not in the folder")
    for rel in found.outside:
        from ..outputs import output_kind

        v = OutputVerdict(str(rel), {"image": "mask"}.get(output_kind(rel), output_kind(rel)))
        v.add(FAIL, f"a link to {os.path.realpath(outdir / rel)}, outside the run folder: not read")
        report.outputs.append(v)
    _changed_since_run(report, outdir, record)
    if record is None and not found.rois and not found.masks \
            and not any(_results_columns(outdir / rel) for rel in found.tables) and report.outputs:
        # no run.json and nothing ImageJ would have written: not a run folder, never a pass or warn
        v = OutputVerdict("(outputs)", "missing")
        v.add(FAIL, "not a run folder: no run.json, and no results table (no ImageJ column), ROI set "
                    "or label mask")
        report.outputs.append(v)
    if not [o for o in report.outputs if o.kind != "run"]:
        v = OutputVerdict("(outputs)", "missing")
        what = "no results table, ROI set or label mask in the folder"
        v.add(FAIL, f"missing: {what}" + ("" if record else " (and no run.json)"))
        report.outputs.append(v)
    return report


def _empty_results_saves(record, outdir, recorded):
    """Declared tables saved by ``saveAs("Results")`` when the Results table was empty.

    Returns {relative path: the recorded analysis} for the ``Results... save=`` commands of the
    run when its last analysis left ImageJ's Results table with no row.
    """
    from .discover import _SAVE_OPTION, _relative

    last = recorded[-1] if recorded else None
    results = (last.analysis.get("results") or {}) if last is not None else {}
    if not isinstance(results, dict) or results.get("title") != "Results" or results.get("rows_after") != 0:
        return {}
    out = {}
    for c in (record or {}).get("commands") or []:
        m = _SAVE_OPTION.search(str(c.get("options", "")))
        if c.get("command") == "Results..." and m:
            rel = _relative(m.group(1).strip("[]"), Path(outdir).resolve())
            if rel is not None:
                out[str(rel)] = last
    return out


def _results_columns(path):
    """The ImageJ Results or Summary columns a table file has (empty: not a results table)."""
    try:
        head, _ = compare.read_table_text(path)
    except CheckError:
        return []
    known = {name for name, _ in COLUMNS} | {"Count", "Total Area", "Average Size"}
    return [c for c in head.columns if c in known]


def _changed_since_run(report, outdir, record):
    """Say so on each output whose SHA-256 differs from the one run.json recorded for it."""
    from ..outputs import sha256

    recorded = {str(o.get("path")): o.get("sha256") for o in (record or {}).get("outputs") or []
                if isinstance(o, dict) and isinstance(o.get("sha256"), str)}
    for v in report.outputs:
        digest = recorded.get(v.path)
        path = outdir / v.path
        if digest and path.is_file() and sha256(path) != digest:
            v.details["changed_since_run"] = True
            v.add(WARN, "changed since the run: its SHA-256 differs from run.json's record")


def _legacy_reference(report, spec, outdir, stored, found, given_image=None):
    """The reference recovered from run.json's commands, the script and its parameters (no record).

    ``given_image``: the image given by name (``--image``), already read; it is ``spec.image_path``.
    """
    input_image = given_image
    if input_image is None and spec.image_path is not None:
        try:
            input_image = load_image(spec.image_path)
        except CheckError as exc:
            spec.assumptions.append(str(exc))
    if spec.measurements is None:
        for rel in found.tables:
            try:
                table, _ = compare.read_table_text(outdir / rel)
            except CheckError:
                continue
            keys = keys_from_columns(table.columns)
            if keys:
                spec.measurements = keys
                spec.sources["measurements"] = f"columns of {rel}"
                break
        if spec.measurements is None:
            spec.measurements = _DEFAULT_KEYS
            spec.sources["measurements"] = "default"
    reference, why_none = None, None
    particles, kwargs = particle_image(spec, input_image,
                                       _pick_mask({p: stored.get(p) for p in found.masks}))
    if particles is None:
        why_none = ("no input image (run.json records none; give --image)" if spec.image_path is None
                    else "the particle image cannot be derived from the input")
    else:
        calibration = spec.calibration
        if calibration is None and spec.image_path is not None and \
                spec.image_path.suffix.lower() in (".tif", ".tiff"):
            try:
                calibration = read_calibration(spec.image_path)
            except Exception:  # noqa: BLE001 - no/odd ImageJ metadata: uncalibrated
                calibration = None
        spec.calibration = calibration
        try:
            reference = analyze_particles(
                particles, size=spec.size, pixel_units=spec.pixel_units, circularity=spec.circularity,
                exclude_edges=spec.exclude_edges, include_holes=spec.include_holes,
                measurements=spec.measurements, calibration=calibration,
                decimals=spec.decimals if spec.decimals is not None else 3, **kwargs)
        except (ValueError, NotImplementedError) as exc:
            why_none = f"the reference cannot analyse this image: {exc}"
    report.reference = reference
    report.image = input_image
    report.assumptions = spec.assumptions
    report.recovered = dict(spec.to_dict(), mode="recovered")
    if reference is not None:
        report.recovered["reference_particles"] = int(len(reference.table))
    else:
        report.recovered["reference_error"] = why_none
    if why_none:
        report.assumptions.append(f"no reference: {why_none}")


def report_json(report):
    """The ``--json`` text of a report."""
    return json.dumps(report.to_dict(), default=_json_default)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)
