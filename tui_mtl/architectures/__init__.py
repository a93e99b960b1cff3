"""Keras builders of the architectures in `tui_mtl.presets.architecture`: each turns the trunk's
layer list into every head's input vector. Imported only when a model is built."""

from __future__ import annotations

from typing import Callable

from tui_mtl.architectures import cross_stitch, hard, mmoe, ple

BUILDERS: dict[str, Callable] = {"hard": hard.build, "mmoe": mmoe.build, "cgc": ple.build, "ple": ple.build,
                                 "cross_stitch": cross_stitch.build}
