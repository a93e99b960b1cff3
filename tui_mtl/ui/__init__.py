"""The terminal app (Textual). Entry point: `tui_mtl.ui.app.run_app`.

Nothing in this package imports TensorFlow or `tui_mtl.engine` at module level: the first frame
must appear before TensorFlow has loaded. The engine is imported inside the training worker.
"""
