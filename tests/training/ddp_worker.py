"""One process of a torchrun job running ``ulrp ARGS``; saves this rank's final weights next to the run dir.

A test helper: rank 1 writes nothing else, so its weights are compared with rank 0's through these files.
"""

import os
import sys

import torch

from unrolled_lrp.cli.main import main
from unrolled_lrp.runs import workflows


def _saving_weights(loop):
    def run(model, *, data, optim, run, class_names):
        best = loop(model, data=data, optim=optim, run=run, class_names=class_names)
        torch.save(model.state_dict(), run.path.parent / f"rank{os.environ['RANK']}.pt")
        return best

    return run


if __name__ == "__main__":
    workflows.train_loop = _saving_weights(workflows.train_loop)
    main(sys.argv[1:])
