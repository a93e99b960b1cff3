"""Run folders: where a session's logs, metrics, TensorBoard files and checkpoints go."""

from tui_mtl.runs.folders import RUNS_ENV, find_run, folder_name, new_run_dir, recent_runs, runs_root

__all__ = ["RUNS_ENV", "find_run", "folder_name", "new_run_dir", "recent_runs", "runs_root"]
