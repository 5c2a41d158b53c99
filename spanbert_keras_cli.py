"""The `spanbert-keras` command's entry point: it starts without TensorFlow.

`spanbert_keras/cli.py` holds the command line; this shim only asks the
package to defer its imports first, so `--help` and argument errors answer
at once and TensorFlow's start-up logs can be silenced before it loads.
"""

import os


def main(argv=None):
    os.environ["SPANBERT_KERAS_DEFER_IMPORTS"] = "1"
    from spanbert_keras.cli import main as run

    return run(argv)


if __name__ == "__main__":
    import sys

    sys.exit(main())
