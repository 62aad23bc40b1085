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


CASES = {
    "activity_macro": activity_macro,
    "activity_jython": activity_jython,
    "course_macro": course_macro,
    "course_jython": course_jython,
    "syntax_error": syntax_error,
    "unknown_command": unknown_command,
    "fiji_plugin": fiji_plugin,
}
