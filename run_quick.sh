#!/usr/bin/env bash
# The main job (README): set up everything, train the quick profile and draw all figures.
#   bash run_quick.sh                 # quick profile (28 min on an idle 2-core CPU, longer on a busy one; README)
#   PROFILE=full bash run_quick.sh    # the report's full grid (days of CPU time; use train.py -mode=sbatch)
# Data: uses $SPEECH_COMMANDS_DIR / $MITDB_DIR / $FASHION_MNIST_DIR when set, else a sibling ../shared/data
# copy when present, else downloads the official datasets into the repository's data folders.
set -euo pipefail
cd "$(dirname "$0")"
PROFILE="${PROFILE:-quick}"

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # Fashion-MNIST IDX files from Debian (otherwise the loader downloads the official files)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; } || true
fi
[ -d .venv ] || python3 -m venv .venv
. .venv/bin/activate
pip install -q --upgrade pip
pip install -q -r requirements.txt
pip install -q --no-deps -e .

SHARED="$(cd .. && pwd)/shared/data"
[ -z "${SPEECH_COMMANDS_DIR:-}" ] && [ -d "$SHARED/speech_commands" ] && export SPEECH_COMMANDS_DIR="$SHARED/speech_commands"
[ -z "${MITDB_DIR:-}" ] && [ -d "$SHARED/mitdb" ] && export MITDB_DIR="$SHARED/mitdb"
[ -z "${FIGURE_MISMATCH_DIR:-}" ] && [ -d "$SHARED/figure_mismatch" ] && export FIGURE_MISMATCH_DIR="$SHARED/figure_mismatch"
[ -z "${FASHION_MNIST_DIR:-}" ] && [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] &&
  export FASHION_MNIST_DIR=/usr/share/datasets/fashion-mnist
python -m robustness.data            # split sizes and class counts of the data actually used

start=$(date +%s)
python train.py -profile="$PROFILE" -group_seeds=2   # seeds of one configuration vmapped in one process
python make_figures.py -profile="$PROFILE"
echo "main job (profile $PROFILE) finished in $(( $(date +%s) - start )) s"
# the report's claims, read from the figure JSONs (prints holds/FAILS per claim, writes claims.json)
python -m robustness.claims -profile="$PROFILE" || echo "not every claim holds at this profile (see above)"
