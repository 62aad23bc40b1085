"""Demo: the course's output-saving activity, run headlessly from Python.

Runs fiji_macros/output_saving.ijm (IJ Macro) on a course image shipped with
fijirun (``fijirun.data``), then prints what it saved and a short summary of the
particles, read back as pandas / roifile / numpy objects, and checks them.

    python examples/demo_output_saving.py --output demo-output
    python examples/demo_output_saving.py --data-dir ../shared/data --output demo-output
"""

import argparse
from pathlib import Path

import fijirun

HERE = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="course images (default: fijirun's own samples)")
    parser.add_argument("--output", default="demo-output")
    parser.add_argument("--image", default="xy_8bit_binary_randomshapes.tif")
    parser.add_argument("--script", default=str(HERE / "fiji_macros" / "output_saving.ijm"))
    args = parser.parse_args()

    image = Path(args.data_dir) / args.image if args.data_dir else fijirun.data.path(args.image)
    with fijirun.Session(data_dir=args.data_dir) as session:
        result = session.run(args.script, input=image, output_dir=args.output,
                             params={"minSize": 0, "maxSize": 1000}, check=True)

    print(f"ran {Path(args.script).name} on {image.name} with ImageJ {result.imagej_version} "
          f"({result.backend}) in {result.seconds:.2f} s; start-up {session.startup_seconds:.2f} s")
    print("saved:")
    for path in result.outputs:
        print(f"  {path}  ({path.stat().st_size} bytes)")
    print(f"  {Path(result.output_dir) / 'run.json'}  (provenance)")
    table = result.table
    mask = result.label_mask
    print(f"particles: {len(table)} rows in the results table, {len(result.roi_set)} ROIs, "
          f"label mask {mask.dtype} with labels 1..{mask.max()}")
    print(table[["Area", "X", "Y", "Perim."]].describe().loc[["mean", "min", "max"]].round(2).to_string())
    print(f"check: {result.check.verdict} "
          f"({', '.join(f'{o.path} {o.verdict}' for o in result.check.outputs)})")
    print("commands ImageJ executed:")
    for c in result.commands:
        print(f"  run(\"{c['command']}\", \"{c['options']}\")")


if __name__ == "__main__":
    main()
