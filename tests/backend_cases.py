"""The cases every backend must run alike (used in-process and by fiji_driver.py)."""

PLUGIN_MACRO = """
newImage("ramp", "8-bit ramp", 64, 64, 1);
run("Auto Local Threshold", "method=Bernsen radius=15 parameter_1=0 parameter_2=0 white");
print("foreground: " + getValue("Mean"));
"""


def activity_macro(s, out, *, MACROS, RANDOMSHAPES, **_):
    return s.run(MACROS / "output_saving.ijm", input=RANDOMSHAPES, output_dir=out)


def activity_jython(s, out, *, MACROS, RANDOMSHAPES, **_):
    return s.run(MACROS / "output_saving.py", input=RANDOMSHAPES, output_dir=out)


def course_macro(s, out, *, ACTIVITIES, **_):
    return s.run(ACTIVITIES / "course_output_saving.ijm", params={"outputDir": out})


def course_jython(s, out, *, ACTIVITIES, **_):
    return s.run(ACTIVITIES / "course_output_saving.py", params={"outputDir": out})


def syntax_error(s, out, *, ACTIVITIES, **_):
    return s.run(ACTIVITIES / "syntax_error_line7.ijm")


def unknown_command(s, out, *, ACTIVITIES, **_):
    return s.run(ACTIVITIES / "unknown_command.ijm")


def fiji_plugin(s, out, **_):
    return s.run_code(PLUGIN_MACRO, "ijm")


LEFT_OPEN = 'newImage("left open", "32-bit random", 256, 256, 1);\nrun("Add...", "value=1");\n'


def images_left_open(s, out, **_):
    """30 runs that each leave an image open; how many ImagePlus objects the heap holds then.

    Every run's image is closed by the next run's reset and must be garbage: ImageJ
    keeps each (ended) thread's temporary current image unless fijirun forgets it.
    The heap is counted by the JVM's own class histogram (it runs a full GC first).
    """
    from types import SimpleNamespace

    from jpype import JArray, JClass, JObject, JString

    for _ in range(30):
        r = s.run_code(LEFT_OPEN, "ijm")
        assert r.ok, r.error
    server = JClass("java.lang.management.ManagementFactory").getPlatformMBeanServer()
    dcmd = JClass("javax.management.ObjectName")("com.sun.management:type=DiagnosticCommand")
    histogram = str(server.invoke(dcmd, "gcClassHistogram", JArray(JObject)([JArray(JString)([])]),
                                  JArray(JString)(["[Ljava.lang.String;"])))
    count = sum(int(line.split()[1]) for line in histogram.splitlines() if line.rstrip().endswith(" ij.ImagePlus")
                or " ij.ImagePlus " in line)
    return SimpleNamespace(status="ok", log=f"ImagePlus objects: {count}", seconds=None)


CASES = {
    "activity_macro": activity_macro,
    "activity_jython": activity_jython,
    "course_macro": course_macro,
    "course_jython": course_jython,
    "syntax_error": syntax_error,
    "unknown_command": unknown_command,
    "fiji_plugin": fiji_plugin,
    "images_left_open": images_left_open,
}
