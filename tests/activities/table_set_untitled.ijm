// Measure an image (the Results window opens), then create a table and fill it with
// Table.set without a title: ImageJ writes into its front window's table, which must be
// the table just created (tests/test_engine_windows.py, scripts/stress_windows.py).
newImage("a", "8-bit ramp", 16, 16, 1);
run("Measure");
Table.create("Counts");
Table.set("n", 0, 5);
Table.set("n", 1, 7);
Table.update;
// time for the window system's activations to arrive (a fijirun run's own would not wait)
wait(300);
