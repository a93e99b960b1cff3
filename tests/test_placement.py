"""A comparison's branches placed on different devices (`fork(devices=...)`, `compare --devices`):
each branch's model and optimizers live on its device, round-robin, and train to the same weights as
on one device. Two logical CPU devices stand in for GPUs (set before TensorFlow starts: a subprocess)."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("placement_check.py")


def test_branches_placed_round_robin_live_on_their_device_and_train_as_on_one():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    engine = result["engine"]
    expected = {"summed": "CPU:0", "grouped": "CPU:1", "pcgrad": "CPU:0"}  # one per device in turn
    for name, device in expected.items():
        assert engine[name]["model"] == [device] and engine[name]["optimizers"] == [device], engine[name]
        assert engine[name]["moved"] > 1e-4 and engine[name]["diff"] < 1e-6, engine[name]
    placed, alone = result["cli"]["placed"], result["cli"]["alone"]
    assert placed["code"] == alone["code"] == 0
    assert "each seed's branches: summed on CPU:0, grouped on CPU:1" in placed["out"]
    for strategy, by_head in alone["results"].items():
        for head, values in by_head.items():
            assert all(abs(a - b) <= 1e-5 * max(1.0, abs(b)) for a, b in
                       zip(placed["results"][strategy][head], values)), (strategy, head)
