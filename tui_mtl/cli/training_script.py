"""The training script `tui-mtl export RUN --script train.py` writes: the run's settings in force
(model, data, strategy, rates, weights, scales, optimizer) in your own `model.fit`, via tui_mtl.keras."""

from __future__ import annotations

from tui_mtl.presets import Preset

TEMPLATE = '''"""{name}: {strategy} in your own model.fit — written by `tui-mtl export {run} --script`.

The settings in force at step {step} of that run. Run it as it is (python {script} [--steps N]),
then swap in your own model and your own tf.data.Dataset of (x, {{head: y}}).
"""

import argparse

import keras

from tui_mtl.data import build_data
from tui_mtl.keras import MultiTaskModel
from tui_mtl.model import build_model
from tui_mtl.presets import parse_preset

# The run's preset with its settings in force (model, data, training, strategy, every head's rate,
# weight and loss scale); its paths are absolute.
PRESET = parse_preset({toml})

STRATEGY = {strategy!r}
LEARNING_RATES = {rates!r}
LOSS_WEIGHTS = {weights!r}
LOSS_SCALES = {scales!r}
PARAMS = {params!r}


def main(steps: int, out: str) -> None:
    net = build_model(PRESET.model, seed=PRESET.data.seed)  # or your own keras.Model
    data = build_data(PRESET)  # or your own datasets of (x, {{head: y}})
    model = MultiTaskModel(net.model, strategy=STRATEGY, learning_rates=LEARNING_RATES,
                           optimizer=PRESET.training.optimizer.make, params=PARAMS, seed=PRESET.data.seed,
                           loss_scales=LOSS_SCALES)
    model.compile(loss={{head.name: head.make_loss() for head in PRESET.model.heads}}, loss_weights=LOSS_WEIGHTS)
    every = min(PRESET.training.validate_every, steps)  # an "epoch" is the run's validation period
    epochs, rest = divmod(steps, every)
    model.fit(data.train, steps_per_epoch=every, epochs=epochs, validation_data=data.validation,
              verbose=2)  # add your callbacks: TensorBoard, ModelCheckpoint, EarlyStopping(mode="min"), ...
    if rest:
        model.fit(data.train, steps_per_epoch=rest, epochs=1, verbose=2)
    net.model.save(out)
    print(f"wrote {{out}}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=PRESET.training.steps)
    parser.add_argument("--out", default="trained.keras", help="where to save the trained model")
    args = parser.parse_args()
    main(args.steps, args.out)
'''


def training_script(preset: Preset, *, run: str, step: int, script: str) -> str:
    """A runnable script for `preset` (the settings in force, with absolute paths)."""
    heads = preset.model.heads
    params = {name: spec.model_dump(exclude_defaults=True) for name, spec in preset.strategy.component_params().items()}
    return TEMPLATE.format(
        name=preset.name, strategy=preset.strategy.name, run=run, step=step, script=script,
        toml=_literal(preset.to_toml()),
        rates={"trunk": preset.training.trunk_learning_rate, **{h.name: h.learning_rate for h in heads}},
        weights={h.name: h.weight for h in heads}, scales={h.name: h.loss_scale for h in heads},
        params={name: value for name, value in params.items() if value})


def _literal(text: str) -> str:
    """`text` as a readable Python literal: a raw triple-quoted block when it can be one."""
    quotes = "\'" * 3
    if quotes in text or text.endswith("\\"):
        return repr(text)
    return f"r{quotes}\n{text}{quotes}"
