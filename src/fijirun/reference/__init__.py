"""Pure-Python reference of ImageJ 1.x *Analyze Particles* (no Java needed).

>>> from fijirun.reference import analyze_particles
>>> res = analyze_particles("mask.tif", measurements="area centroid perimeter shape")
>>> res.table, res.rois, res.count_mask
"""
from .analyze import (
                      COLUMNS,
                      MEASUREMENT_KEYS,
                      Calibration,
                      ParticleAnalysis,
                      analyze_particles,
                      labels_to_rois,
                      labels_to_rois_with_values,
                      read_calibration,
                      read_selection,
                      rois_to_labels,
)
from .measure import format_value, round_like_imagej
from .tracing import Outlines, trace_outlines

__all__ = [
    "analyze_particles", "ParticleAnalysis", "Calibration", "read_calibration", "read_selection",
    "labels_to_rois", "labels_to_rois_with_values", "rois_to_labels",
    "MEASUREMENT_KEYS", "COLUMNS", "format_value", "round_like_imagej",
    "trace_outlines", "Outlines",
]
