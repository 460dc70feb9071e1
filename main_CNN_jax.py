"""Train the Fashion-MNIST CNN (NCHW 28 × 28, batch-statistics standardisation).

Standard (-beta_robustness=0) or robust (default β = 1) training with the report's defaults; every flag of
the original is accepted as -flag=value or --flag=value (see --help). Writes
Resources/Models/{session_id}_model.json and Resources/TrainingResults/{session_id}.json.

    python main_CNN_jax.py -beta_robustness=0.0 -seed=3
    python main_CNN_jax.py -vmap_seeds=0,1,2,3 -n_epochs=1,1     # several seeds at once (jax.vmap)
"""

import sys

from robustness.tasks.fashion_mnist import CnnConfig
from robustness.training import main

if __name__ == "__main__":
    sys.exit(main(CnnConfig))
