"""Example: one macro over many images on Dask, with the workers kept warm.

Runs fiji_macros/output_saving.ijm over every image of the course data
folder twice — particles up to 1000 pixels (the course's setting), then of
any size — on one local Dask cluster: the second
batch reuses the workers' running ImageJ (no JVM start, no JIT warm-up).
Prints each batch's summary and the particle counts per image from the
combined results table.

    python examples/batch_warm_cluster.py --data-dir ../shared/data --output batch-example
"""

import argparse
from pathlib import Path

import fijirun
from fijirun.batch import local_cluster

HERE = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--output", default="batch-example")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--script", default=str(HERE / "fiji_macros" / "output_saving.ijm"))
    args = parser.parse_args()

    images = sorted(Path(args.data_dir).glob("*binary*.tif"))
    if not images:
        parser.error(f"no binary course images (*binary*.tif) in {args.data_dir}")
    with local_cluster(args.workers) as cluster:
        for label, max_size in (("upto1000px", 1000), ("anysize", 10**9)):
            frame = fijirun.batch(args.script, images, Path(args.output) / label,
                                  scheduler=cluster.scheduler_address, progress=False,
                                  params={"minSize": 0, "maxSize": max_size})
            summary = frame.attrs["summary"]
            print(f"{label}: {summary['ok']} ok, {summary['failed']} failed, "
                  f"{summary['timeout']} timeout in {summary['seconds']:.1f} s "
                  f"({summary['images_per_second']:.1f} images/s)")
            results = frame.attrs["results"]
            counts = results.groupby("image").size() if len(results) else {}
            for image, n in dict(counts).items():
                print(f"    {image}: {n} particles")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
