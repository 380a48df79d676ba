#!/usr/bin/env bash
# Build the HTML documentation with warnings as errors.
#
#   bash doc/build.sh            # full gallery (the examples' full settings)
#   SKLEARN_GDNET_EXAMPLES_QUICK=1 bash doc/build.sh   # reduced gallery, as in CI
#
# Needs the docs extra: pip install -e ".[docs]". Output: doc/_build/html.
# Extra arguments go to sphinx-build, e.g. -n (nitpicky) to check every
# cross-reference; offline, references into scikit-learn and numpy then warn
# too unless SKLEARN_GDNET_DOCS_INTERSPHINX=1 and the network is reachable.
# -W turns warnings into errors; --keep-going reports all of them before failing.
# -E/-a rebuild from scratch so that a warning cannot hide in a cached page.
set -euo pipefail
cd "$(dirname "$0")"

# Headless plotting, and one BLAS thread: on a shared 2-core machine OpenBLAS threads
# spin against each other and made the gallery up to 8 times slower.
export MPLBACKEND=Agg
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

rm -rf _build generated auto_examples
python -m sphinx -b html -W --keep-going -E -a -j 1 . _build/html "$@"
echo "docs built in $(pwd)/_build/html"
