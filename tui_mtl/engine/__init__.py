"""The engine: a TF-free controller (commands, run state, reports, history, snapshots) over a
TensorFlow stepper (model, data, traced steps, state). Importing this package loads no TensorFlow;
building a Session with the default stepper does."""

from tui_mtl.engine.comparison import BranchSpec, Comparison, fork
from tui_mtl.engine.reports import Event, EventKind, Fault, FaultKind, Report
from tui_mtl.engine.session import TRUNK, Session
from tui_mtl.engine.state import State
from tui_mtl.engine.stepper import DeviceMemoryError, StepFailure, Stepper, StepperState

__all__ = ["BranchSpec", "Comparison", "DeviceMemoryError", "Event", "EventKind", "Fault", "FaultKind", "Report",
           "Session", "State", "StepFailure", "Stepper", "StepperState", "TRUNK", "fork"]
