"""Run as a script (the test splits the CPU into 2 logical devices before TensorFlow starts):
trains each strategy on one device and mirrored over two, on the same global batches, and prints
the largest weight difference per strategy as JSON."""

import contextlib
import json
import os
import sys

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from tests.conftest import tiny_preset  # noqa: E402
from tui_mtl.devices import make_distribution  # noqa: E402
from tui_mtl.engine import Session  # noqa: E402
from tui_mtl.engine.tf.loss_scaling import LossScaling  # noqa: E402

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 6
strategies = sys.argv[2].split(",") if len(sys.argv) > 2 else ["summed"]
keras_strategies = sys.argv[3].split(",") if len(sys.argv) > 3 else ["summed"]
results = {}
dist = make_distribution([0, 1])

def mirrored_everywhere(session) -> bool:
    """Every optimizer and weighting variable lives on every replica (built inside the scope)."""
    stepper = session.stepper
    variables = [v for name in stepper.strategies for v in stepper.strategy(name).state().values()]
    tf_variables = [v if isinstance(v, tf.Variable) else v.value for v in variables]  # Keras wraps its own
    return all(isinstance(v, tf.distribute.DistributedValues) for v in tf_variables)


for key in strategies:
    # "NAME:scaled": the mirrored session under a loss scale (unscaled on the plan summed over
    # replicas); "NAME:fp16": both in float16, starting from a scale that overflows; "mgda:ub":
    # MGDA-UB, whose Gram matrix of z-gradients is summed over the replicas' parts of the batch
    name, _, mode = key.partition(":")
    options = {"scaled": {"loss_scaling": LossScaling(initial=1024.0, growth_steps=4)},
               "fp16": {"mixed_precision": "fp16", "loss_scaling": LossScaling(initial=2.0 ** 24)}}.get(mode, {})
    start = {"name": "mgda", "aggregator": {"representation": True}} if mode == "ub" else {"name": "summed"}
    # "NAME:fused": 3 steps per call (no diagnostics), each step's plan summed over the replicas
    training = {"diagnostics_every": 0, "steps_per_call": 3} if mode == "fused" else {"diagnostics_every": 3}
    preset = tiny_preset(strategy=start, data={"shuffle": True}, training=training)
    single = Session(preset, **(options if mode == "fp16" else {}))  # else unscaled: the same weights
    mirrored = Session(preset, distribution=dist, **options)
    reports = []
    mirrored.subscribe(reports.append)
    for session in (single, mirrored):
        session.run(2)
        session.set_strategy(name)  # built mid-run: its optimizers must still be made inside the scope
        session.run(STEPS)
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(single.model.get_weights(), mirrored.model.get_weights()))
    moved = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                for a, b in zip(single.model.get_weights(), single.stepper.initial_weights))
    losses = {h: abs(single.last_report.train_loss.get(h, np.nan) - mirrored.last_report.train_loss.get(h, np.nan))
              for h in single.head_names}
    results[key] = {"diff": diff, "moved": moved, "loss_diff": max(losses.values()),
                     "replicas": mirrored.replicas, "diagnostics": any(r.diagnostics for r in reports),
                     "mirrored": mirrored_everywhere(mirrored), "fused": not mirrored.stepper.will_trace_fused(),
                     "loss_scales": [single.capture().loss_scale, mirrored.capture().loss_scale],
                     "overflow_skips": mirrored.overflow_skips, "paused": mirrored.state.value != "finished"}
# tui_mtl.keras.MultiTaskModel in Keras' own fit: mirrored over two devices vs one, same global batches
import keras  # noqa: E402

from tui_mtl.keras import MultiTaskModel  # noqa: E402


def fit_wrapped(session, preset, strategy, batches, scope, mode=""):
    """mode "inside": fit called inside the scope (Keras allows it, and fit outside it)."""
    with scope():
        own = keras.models.clone_model(session.model)
        own.set_weights(session.stepper.initial_weights)
        heads = preset.model.heads
        model = MultiTaskModel(own, strategy=strategy, optimizer=preset.training.optimizer.make,
                               learning_rates={"trunk": preset.training.trunk_learning_rate,
                                               **{h.name: h.learning_rate for h in heads}})
        model.compile(loss={h.name: h.make_loss() for h in heads}, loss_weights={h.name: h.weight for h in heads})
    x = tf.concat([b[0] for b in batches], 0)
    y = {h: tf.concat([b[1][h] for b in batches], 0) for h in batches[0][1]}
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(int(batches[0][0].shape[0]))
    with scope() if mode == "inside" else contextlib.nullcontext():
        history = model.fit(data, epochs=2, verbose=0, validation_data=data)
    return model, history.history, model.evaluate(data, verbose=0, return_dict=True)


for key in keras_strategies:  # "NAME:inside": see fit_wrapped
    name, _, mode = key.partition(":")
    preset = tiny_preset(strategy={"name": name}, training={"diagnostics_every": 0})
    session = Session(preset)
    batches = list(session.stepper.data.train.take(STEPS))
    one, one_logs, one_eval = fit_wrapped(session, preset, name, batches, contextlib.nullcontext)
    two, two_logs, two_eval = fit_wrapped(session, preset, name, batches, dist.scope, mode)
    weights = [(np.asarray(a), np.asarray(b)) for a, b in zip(one.inner.get_weights(), two.inner.get_weights())]
    results["keras:" + key] = {
        "diff": max(float(np.max(np.abs(a - b))) for a, b in weights),
        "moved": max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                     for a, b in zip(one.inner.get_weights(), session.stepper.initial_weights)),
        "log_diff": max(abs(a - b) for key in one_logs for a, b in zip(one_logs[key], two_logs[key])),
        "logs": sorted(two_logs), "eval_diff": max(abs(one_eval[k] - two_eval[k]) for k in one_eval),
        "replicas": two.distribute_strategy.num_replicas_in_sync}
# what does not run gets one message, not a wrong answer: a model built outside the scope, and
# steps_per_execution > 1 (Keras' own fit fails on it under MirroredStrategy here)
losses = {"size": "mse", "shape": "sparse_categorical_crossentropy", "bright": "binary_crossentropy"}
outside = Session(tiny_preset()).model
for key, make, options in [("keras_outside", lambda: outside, {}),
                           ("keras_spe", lambda: Session(tiny_preset()).model, {"steps_per_execution": 3})]:
    with dist.scope():
        try:
            MultiTaskModel(make()).compile(loss=losses, **options)
            results[key] = None
        except ValueError as err:
            results[key] = str(err)
# a later session in the process over the same devices, with other shapes (the app after picking
# another preset): its own make_distribution call, as the app makes one per session
wider = tiny_preset(model={"trunk": [{"type": "conv2d", "filters": 6, "kernel_size": 3}, {"type": "flatten"},
                                     {"type": "dense", "units": 12}]})
later = Session(wider, distribution=make_distribution([0, 1]))
report = later.run(3)
results["later_session"] = {"state": report.state.value, "step": report.step,
                            "fault": report.fault.summary if report.fault else None}
print("RESULT " + json.dumps(results))
