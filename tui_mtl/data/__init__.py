"""Data sources: each returns numpy arrays; `build_data` turns them into tf.data pipelines."""

from tui_mtl.data.pipeline import DataSplits, build_data, load_arrays

__all__ = ["DataSplits", "build_data", "load_arrays"]
