"""Files written so that a crash never leaves half a file, and read with errors that name them.

Every file is written to a temporary file in the same directory, flushed to
disk, then renamed over its final name (`os.replace` is atomic on POSIX and
Windows): a reader sees the old content or the new one, never a mix. A
directory (an export, a checkpoint) is written to a staging directory beside
it and renamed into place the same way. Temporary names start with
`TEMPORARY_PREFIX`, so what a killed process left behind is recognised and
removed (`remove_temporaries`).

What is written gets the mode the umask gives (`0o666 & ~umask` for a file,
`0o777 & ~umask` for a directory), as `open` and `mkdir` give it: the
temporary files and staging directories are not private (`tempfile`'s
0600 and 0700), so a model server running as another user can read an
export.

Nothing here imports TensorFlow: the command line checks its input files
before loading it.
"""

import codecs
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import zipfile

import yaml

TEMPORARY_PREFIX = ".tmp-"
# Written into every directory a command creates whole (`staged_output` with an
# owner): `--overwrite` replaces only a directory that holds it, naming that command.
OUTPUT_MARKER = ".spanbert-keras-output"


def fsync_path(path):
    """Flushes a file, or a directory's entries, to disk (a no-op where the OS refuses)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if os.path.isdir(path) else os.O_RDONLY
    try:
        handle = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def current_umask():
    """The process' umask (read from /proc where it can be, without changing it)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting it, and set it back at once
    os.umask(mask)
    return mask


def _fresh_name(folder, prefix, suffix=""):
    return os.path.join(folder, f"{prefix}{secrets.token_hex(6)}{suffix}")


def new_temporary_file(folder, prefix, suffix=""):
    """Creates an empty file of a new name in `folder`; returns its path.

    Unlike `tempfile.mkstemp` (mode 0600), the file gets the mode the umask
    gives a new file, so it keeps it when renamed into place.

    Example:

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = new_temporary_file(folder, ".tmp-", "-vocab.txt")
    >>> os.stat(path).st_mode & 0o777 == 0o666 & ~current_umask()
    True
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = _fresh_name(folder, prefix, suffix)
        try:
            handle = os.open(path, flags, 0o666)
        except FileExistsError:
            continue
        os.close(handle)
        return path
    raise FileExistsError(f"No free temporary name for {prefix}...{suffix} in {folder}.")


def new_temporary_dir(folder, prefix, suffix=""):
    """Creates an empty directory of a new name in `folder` (mode 0777 less the umask; not
    `tempfile.mkdtemp`'s 0700); returns its path."""
    for _ in range(100):
        path = _fresh_name(folder, prefix, suffix)
        try:
            os.mkdir(path, 0o777)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"No free temporary name for {prefix}...{suffix} in {folder}.")


def apply_umask(path):
    """Gives `path` and, for a directory, everything under it, the mode the umask gives a new one.

    Files become `0o666 & ~umask` (`0o777 & ~umask` if executable by
    anyone), directories `0o777 & ~umask`; symbolic links are left alone.
    Used on what a writer staged (TensorFlow creates its directories 0755,
    whatever the umask) before it is moved into place.
    """
    mask = current_umask()

    def set_mode(name):
        status = os.lstat(name)
        if stat.S_ISLNK(status.st_mode):
            return
        if stat.S_ISDIR(status.st_mode) or status.st_mode & 0o111:
            wanted = 0o777 & ~mask
        else:
            wanted = 0o666 & ~mask
        if stat.S_IMODE(status.st_mode) != wanted:
            os.chmod(name, wanted)

    set_mode(path)
    if os.path.isdir(path) and not os.path.islink(path):
        for root, folders, names in os.walk(path):
            for name in folders + names:
                set_mode(os.path.join(root, name))


def _folder_of(path):
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    os.makedirs(folder, exist_ok=True)
    return folder


def atomic_write(path, write, mode="w"):
    """Writes `path` through `write(file)` into a temporary file, then renames it.

    Args:
        path: the final path; its directory is created.
        write: callable taking the open temporary file.
        mode: `"w"` (UTF-8 text) or `"wb"`.

    Returns:
        `path`.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> _ = atomic_write(path, lambda f: f.write("done"))
    >>> with open(path) as f:
    ...     f.read(), sorted(os.listdir(os.path.dirname(path)))
    ('done', ['out.txt'])
    """
    with atomic_path(path) as temporary:
        encoding = None if "b" in mode else "utf-8"
        with open(temporary, mode, encoding=encoding) as f:
            write(f)
    return path


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path` (same suffix) that replaces `path` on success.

    For writers that take a path (`model.save`, `save_weights`,
    `np.savetxt`): what they write is flushed to disk and renamed over
    `path` when the block succeeds, and removed when it fails.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
    >>> with atomic_path(path) as temporary:
    ...     temporary.endswith("model.keras"), temporary == path
    (True, False)
    """
    path = os.fspath(path)
    folder = _folder_of(path)
    temporary = new_temporary_file(
        folder, f"{TEMPORARY_PREFIX}{os.getpid()}-", f"-{os.path.basename(path)}"
    )
    try:
        yield temporary
        apply_umask(temporary)  # in case the writer made the file anew, private
        fsync_path(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    fsync_path(folder)


def check_directory_path(path):
    """Refuses a directory path that runs through a file (`out.txt/run`), naming the file.

    Example:

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, "notes"), "w").write("")
    >>> check_directory_path(os.path.join(folder, "notes", "run", "1"))
    Traceback (most recent call last):
    ...
    NotADirectoryError: ...notes is a file, not a directory: cannot write .../notes/run/1 under it.
    """
    path = os.path.abspath(os.fspath(path))
    folder = path
    while True:
        if os.path.lexists(folder):
            if not os.path.isdir(folder):
                raise NotADirectoryError(
                    f"{folder} is a file, not a directory: cannot write {path} under it."
                    if folder != path else f"{path} is a file, not a directory."
                )
            return path
        parent = os.path.dirname(folder)
        if parent == folder:
            return path
        folder = parent


def stage_dir(final_dir):
    """A fresh, not yet existing staging path beside `final_dir` (its name is not an integer)."""
    parent = _folder_of(final_dir)
    stage = new_temporary_dir(parent, f"{TEMPORARY_PREFIX}{os.path.basename(final_dir)}-")
    os.rmdir(stage)  # the writer creates it (ExportArchive.write_out does)
    return stage


def move_into_place(staged):
    """Renames each `(stage, final)` pair into place, replacing what was at `final`.

    A file is replaced atomically; a directory that exists is first renamed
    aside, so `final` is missing only between two renames. What is moved
    first gets the modes the umask gives (`apply_umask`).
    """
    for stage, final in staged:
        apply_umask(stage)
        for root, _, names in os.walk(stage):
            for name in names:
                fsync_path(os.path.join(root, name))
            fsync_path(root)
        fsync_path(stage)
        old = None
        if os.path.isdir(final) and not os.path.islink(final):
            old = stage_dir(final)
            os.replace(final, old)
        os.replace(stage, final)
        fsync_path(os.path.dirname(os.path.abspath(final)))
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def check_outside_inputs(output, inputs):
    """Refuses an `output` that is, contains, or sits inside one of `inputs` (paths; None skipped).

    Writing there would overwrite or remove what the command reads. Paths
    are compared after resolving symbolic links.

    Example:

    >>> check_outside_inputs("runs/s1d", ["runs/s1d/model.keras"])
    Traceback (most recent call last):
    ...
    ValueError: The output runs/s1d contains the input runs/s1d/model.keras: writing it would destroy what is read; choose an output outside the inputs.
    >>> check_outside_inputs("runs/hf", ["runs/s1d"])
    """
    out = os.path.realpath(os.fspath(output))
    for given in inputs:
        if not isinstance(given, (str, os.PathLike)):
            continue  # None, or an object passed in place of a file
        path = os.path.realpath(os.fspath(given))
        if os.path.commonpath([out, path]) == out:
            relation = "is" if out == path else "contains"
        elif os.path.commonpath([out, path]) == path:
            relation = "sits inside"
        else:
            continue
        raise ValueError(
            f"The output {os.fspath(output)} {relation} the input {os.fspath(given)}: writing it "
            "would destroy what is read; choose an output outside the inputs."
        )


def _check_replaceable(output, owner):
    marker = os.path.join(output, OUTPUT_MARKER)
    written_by = None
    if os.path.isfile(marker):
        with open(marker, encoding="utf-8", errors="replace") as f:
            written_by = f.read().strip()
    if written_by != owner:
        raise FileExistsError(
            f"{output} is not a directory that `{owner}` wrote: --overwrite replaces only "
            "those, never another folder. Choose another output, or remove it yourself."
        )


def check_output_directory(output, overwrite=False, inputs=(), owner=None):
    """The checks of `staged_output` (see there), to run before any work; the absolute path."""
    check_outside_inputs(output, inputs)
    output = os.path.abspath(os.fspath(output))
    if os.path.lexists(output) and not os.path.isdir(output):
        raise FileExistsError(f"{output} exists and is not a directory.")
    if os.path.isdir(output) and os.listdir(output):
        if not overwrite:
            raise FileExistsError(
                f"{output} already exists and is not empty; choose another output directory "
                "or pass overwrite=True (--overwrite) to replace it."
            )
        if owner is not None:
            _check_replaceable(output, owner)
    return output


@contextlib.contextmanager
def staged_output(output, overwrite=False, inputs=(), owner=None):
    """Yields a staging directory that becomes `output` when the block succeeds.

    `output` must not exist, or be an empty directory, unless `overwrite`
    (then it is replaced once the block has succeeded). With an `owner` (the
    command writing it, e.g. `"spanbert-keras import"`), the directory is
    marked as that command's (`OUTPUT_MARKER`) and `overwrite` replaces only
    a directory so marked. `output` may never be, contain or sit inside one
    of `inputs`, even with `overwrite`. On any error the staging directory is
    removed and `output` is left as it was.

    Example:

    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     target = os.path.join(folder, "out")
    ...     try:
    ...         with staged_output(target) as stage:
    ...             _ = open(os.path.join(stage, "half.txt"), "w").write("...")
    ...             raise ValueError("bad tensor")
    ...     except ValueError:
    ...         pass
    ...     print(os.path.exists(target), os.listdir(folder))
    False []
    """
    output = check_output_directory(output, overwrite, inputs, owner)
    stage = stage_dir(output)
    os.makedirs(stage)
    try:
        if owner is not None:
            with open(os.path.join(stage, OUTPUT_MARKER), "w", encoding="utf-8") as f:
                f.write(owner + "\n")
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    move_into_place([(stage, output)])


def member_path(directory, name, source):
    """`directory/name` for a plain file name given by `source`; refuses any other.

    A name read from a checkpoint (a shard listed in an index) or given on
    the command line (an export name) cannot lead outside `directory`.

    Example:

    >>> member_path("ckpt", "model-00001.safetensors", "index.json")
    'ckpt/model-00001.safetensors'
    >>> member_path("ckpt", "../secret", "index.json")
    Traceback (most recent call last):
    ...
    ValueError: index.json names '../secret', which is not a plain file name in ckpt; refused.
    """
    name = str(name)
    if (not name or name in (".", "..") or os.path.isabs(name) or "/" in name
            or "\\" in name or "\0" in name or os.path.basename(name) != name):
        raise ValueError(
            f"{source} names {name!r}, which is not a plain file name in {directory}; refused."
        )
    path = os.path.join(directory, name)
    inside = os.path.realpath(directory)
    if os.path.commonpath([inside, os.path.realpath(path)]) != inside:
        raise ValueError(
            f"{source} names {name!r}, a link in {directory} to a file outside it; refused."
        )
    return path


@contextlib.contextmanager
def new_folders_removed_on_error(folders):
    """On an error in the block, removes those of `folders` it created that are still empty.

    A failed output leaves no empty `saved_models/NAME/` behind it.
    """
    missing = [os.path.abspath(f) for f in folders if not os.path.lexists(f)]
    try:
        yield
    except BaseException:
        for folder in sorted(missing, key=len, reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise


def remove_temporaries(folder):
    """Removes what interrupted writers left in `folder` (names starting with `TEMPORARY_PREFIX`).

    Call it only while holding the folder (a run directory's lock): another
    process' temporary files would go too. Returns the names removed.
    """
    removed = []
    if not os.path.isdir(folder):
        return removed
    for name in sorted(os.listdir(folder)):
        if name.startswith(TEMPORARY_PREFIX):
            path = os.path.join(folder, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.remove(path)
            removed.append(name)
    return removed


def sha256_of(path, chunk_size=1 << 22):
    """The SHA-256 of a file's bytes, as hex (what `sha256sum` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_text(path, utf8=True, opener=None, chunk_size=1 << 20):
    """Refuses a text file with nothing to read: only whitespace, or (`utf8`) bytes that are not UTF-8.

    Args:
        path: the file.
        utf8: bool, read it all and refuse the first byte that is not
            UTF-8 (naming its line); False: stop at the first
            non-whitespace byte.
        opener: callable opening `path` for binary reading (default `open`).

    Raises:
        ValueError: naming `path` and the problem.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "corpus.txt")
    >>> _ = open(path, "wb").write(b"fine\\n\\nsee caf\\xe9\\n")
    >>> check_text(path)
    Traceback (most recent call last):
    ...
    ValueError: ...corpus.txt: line 3 is not UTF-8 text (invalid continuation byte at byte 13); convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8).
    >>> _ = open(path, "wb").write(b"\\n  \\n\\n")
    >>> check_text(path)
    Traceback (most recent call last):
    ...
    ValueError: ...corpus.txt holds no text (only blank lines or whitespace).
    """
    opener = opener or (lambda name: open(name, "rb"))
    decoder = codecs.getincrementaldecoder("utf-8")()
    has_text, lines, offset = False, 0, 0
    with opener(path) as f:
        while True:
            chunk = f.read(chunk_size)
            if utf8:
                pending = decoder.getstate()[0]
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as error:
                    data = pending + chunk
                    line = lines + data[: error.start].count(b"\n") + 1
                    raise ValueError(
                        f"{path}: line {line} is not UTF-8 text ({error.reason} at byte "
                        f"{offset - len(pending) + error.start}); convert the file to UTF-8 "
                        "(e.g. iconv -f latin1 -t utf-8)."
                    ) from None
                has_text = has_text or bool(text.strip())
            else:
                has_text = has_text or bool(chunk.strip())
            if not chunk or (has_text and not utf8):
                break
            lines += chunk.count(b"\n")
            offset += len(chunk)
    if not has_text:
        raise ValueError(f"{path} holds no text (only blank lines or whitespace).")


def zip_problem(path):
    """What is wrong with a zip file (a `.keras` file is one), or None when it reads back whole.

    Every member's CRC is checked: a truncated or damaged file is found
    without deserialising anything.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        return f"not a readable zip archive ({error})"
    if bad is not None:
        return f"its member {bad} is damaged (CRC mismatch)"
    return None


def write_json(path, value):
    """Writes `value` as indented UTF-8 JSON, atomically; returns `path`."""
    return atomic_write(
        path, lambda f: f.write(json.dumps(value, indent=1, ensure_ascii=False) + "\n")
    )


# A config is a few kilobytes; a larger file is refused before it is parsed.
MAX_YAML_BYTES = 16 << 20
# YAML 1.1 reads `1e-3` (no dot) as a string; configs mean the number.
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


class _ConfigLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` for configs: no aliases, no duplicate keys, `1e-3` is a number.

    Refusing aliases (`*name`) at composition bounds the memory a small file
    can take (an anchors-and-aliases "billion laughs" is refused before it
    is expanded); a key given twice is an error rather than a silent choice.
    """

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted in a config; write the value out",
                self.peek_event().start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # an unhashable key: the base class reports it
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice", key_node.start_mark)
        return super().construct_mapping(node, deep)


_ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT,
                                    list("-+0123456789"))


def parse_yaml(text, source):
    """The value of YAML `text` (a config file's, or a `--set` value), read by `_ConfigLoader`.

    Raises:
        ValueError: the text is not valid YAML, uses an alias or repeats a
            key (the message names `source` and the line).

    Example:

    >>> parse_yaml("learning_rate: 1e-3\\nsteps: 10", "config.yaml")
    {'learning_rate': 0.001, 'steps': 10}
    >>> parse_yaml("a: &x [1]\\nb: *x", "bomb.yaml")
    Traceback (most recent call last):
    ...
    ValueError: bomb.yaml: line 2: aliases (*name) are not accepted in a config; write the value out.
    """
    try:
        return yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f": line {mark.line + 1}" if mark is not None else ""
        problem = error.problem or error.context or "not valid YAML"
        raise ValueError(f"{source}{where}: {problem}.") from None
    except yaml.YAMLError as error:
        raise ValueError(f"{source} is not valid YAML: {error}") from None


def read_yaml(path):
    """The value of a YAML config file (`parse_yaml`); a file over `MAX_YAML_BYTES` is refused."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Config file not found: {path}")
    size = os.path.getsize(path)
    if size > MAX_YAML_BYTES:
        raise ValueError(f"{path} is {size:,} bytes, more than a config can be "
                         f"({MAX_YAML_BYTES:,}); refused.")
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise ValueError(f"{path}: line {line}: not UTF-8 text.") from None
    return parse_yaml(text, path)


def write_yaml(path, value):
    """Writes `value` as YAML (`yaml.safe_dump`), atomically; returns `path`."""
    return atomic_write(path, lambda f: yaml.safe_dump(value, f, sort_keys=False))


def parse_json(text, source, line=None):
    """The value of JSON `text`; bad or too deeply nested JSON raises `ValueError` naming `source`.

    `line`: the line of `source` that `text` is (a JSON-lines record), else
    the error names the line within `text`.

    Example:

    >>> parse_json('{"a": [1, 2]}', "x.json")
    {'a': [1, 2]}
    >>> parse_json("[" * 200_000, "deep.json")
    Traceback (most recent call last):
    ...
    ValueError: deep.json: JSON nested too deeply to read (thousands of levels); refused.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = line if line is not None else error.lineno
        raise ValueError(f"{source}: line {where}: not valid JSON: {error.msg}") from None
    except RecursionError:
        raise ValueError(f"{source}: JSON nested too deeply to read (thousands of levels); "
                         "refused.") from None


def read_json(path):
    """Reads a UTF-8 JSON file; bad JSON or bad UTF-8 raises `ValueError` naming the file and line."""
    with open(path, encoding="utf-8") as f:
        try:
            text = f.read()
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    return parse_json(text, path)
