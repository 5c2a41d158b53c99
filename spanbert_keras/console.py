"""What every command does around its work: a quiet TensorFlow, one-line errors, exit codes.

The `spanbert-keras` command and `pipelines/run.py` share these rules:

- TensorFlow is imported with its C++ logs off (its start-up lines are
  written before any log level applies, so they are sent to /dev/null while
  it loads), unless `--verbose`;
- a failure is one line on stderr naming the file and the problem; exit
  status 2 for bad input or a file problem (a missing, damaged or locked
  file, a full disk), 1 for anything else, 130 when interrupted; the
  traceback only with `--verbose`.

Nothing here imports TensorFlow until asked to.
"""

import os
import sys
import traceback

# Bad input, and the file problems a user can act on (missing, damaged,
# locked, no space left): exit status 2.
USER_ERRORS = (ValueError, OSError, KeyError)


def quiet_tensorflow(verbose=False, later_logs=False):
    """Imports TensorFlow, silencing its C++ logs unless `verbose`.

    The lines TensorFlow's libraries write while loading (oneDNN, CUDA, CPU
    features) ignore `TF_CPP_MIN_LOG_LEVEL`, so stderr is pointed at
    /dev/null for the import. Unless `later_logs`, `TF_CPP_MIN_LOG_LEVEL=3`
    also silences what TensorFlow logs once loaded (the command line);
    `import spanbert_keras` keeps those (`later_logs=True`). With `verbose`
    nothing is changed. A no-op when TensorFlow is already loaded.
    """
    if "tensorflow" in sys.modules:
        return
    if verbose:
        import tensorflow  # noqa: F401

        return
    if not later_logs:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def one_line(error):
    """An exception's message on one line (a `KeyError`'s without its quotes).

    >>> one_line(ValueError("runs/x/vocab.txt:\\n  not the run's vocabulary"))
    "runs/x/vocab.txt: not the run's vocabulary"
    >>> one_line(KeyError("no such task"))
    'no such task'
    """
    message = error.args[0] if isinstance(error, KeyError) and error.args else error
    return " ".join(str(message).split())


def run_command(prog, work, verbose=False):
    """Runs `work()`; returns the exit status, printing a failure as one line on stderr.

    Example:

    >>> import contextlib, io
    >>> def work():
    ...     raise FileNotFoundError("Corpus file not found: missing.txt")
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     status = run_command("spanbert-keras pretrain", work)
    >>> status, err.getvalue()
    (2, 'spanbert-keras pretrain: error: Corpus file not found: missing.txt\\n')
    """
    try:
        work()
    except USER_ERRORS as error:
        _report(prog, one_line(error), verbose)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted (run the same command again to resume)", file=sys.stderr)
        return 130
    except Exception as error:  # a bug or an unforeseen failure: still one line
        hint = "" if verbose else " (run with --verbose for the traceback)"
        _report(prog, f"{type(error).__name__}: {one_line(error)}{hint}", verbose)
        return 1
    return 0


def _report(prog, message, verbose):
    sys.stdout.flush()
    if verbose:
        traceback.print_exc()
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
