"""Regression-checking a course: run every IJ Macro and Jython activity unattended.

``fijirun.regress(course_dir, output)`` discovers a course's activities
(:mod:`.discover`), answers their interactive calls with the defaults the
script gives (:mod:`.answers`), runs each in isolation with a timeout on
Dask worker processes (:mod:`.run`), classifies it (``passed``, ``failed``,
``needs-plugin``, ``needs-data``, ``timeout``) and writes reports
(:mod:`.report`: terminal table, JSON, JUnit XML, HTML matrix). Importing
this package does not import Dask.
"""

from .discover import Activity, discover
from .run import CLASSES, NoActivityError, regress

__all__ = ["CLASSES", "Activity", "NoActivityError", "discover", "regress"]
