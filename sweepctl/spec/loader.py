"""Read sweep files the way W&B does (PyYAML, YAML 1.1), with two improvements.

1. Plain scalars such as ``1e-5`` or ``5E-4`` load as floats. PyYAML's YAML 1.1 resolver only
   accepts floats with a dot and a signed exponent, so ``wandb sweep`` hands them to the program
   as strings; each one gets a warning naming its line.
2. Every key and list item keeps the line it was written on, so every problem names file:line.

JSON files are read with :mod:`json`; their lines come from the same YAML pass when it parses.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sweepctl.errors import Problem, UsageError
from sweepctl.spec.limits import LimitError, limits, raise_hint

KeyPath = tuple[Any, ...]

# What a person means as a number in scientific notation, when YAML 1.1 sees a string:
# `1e-5`, `5E-4`, `-1e3`, `1.0e5` (no sign), `.5e-3`.
_SCI_NOTATION = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$")
# Keys whose values W&B uses as text: `name: 1e5` stays the string "1e5" there.
_TEXT_FIELDS = {"name", "description", "project", "entity", "program", "job", "image_uri"}
MAX_DEPTH = 64  # deeper than any sweep file; guards against recursion limits
MAX_NUMBER_DIGITS = 400  # Python refuses to print ints past 4300 digits


@dataclass
class Document:
    """A loaded sweep file: its data, where each key sits, and the loader's warnings."""

    data: Any
    source: str
    lines: dict[KeyPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Mapping keys that YAML 1.1 turned into something other than a string (`off:` -> False),
    # with the text as written.
    odd_keys: dict[KeyPath, str] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its closest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


class _SweepLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading scientific notation as floats, and counting nodes as it
    composes them (aliases expanded) so an alias bomb or a huge list stops the parse early."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.node_limit = limits().nodes
        self._sizes: dict[int, int] = {}  # node -> its size with aliases expanded
        self._nodes: list[yaml.Node] = []  # keeps the nodes alive while their ids are keys

    def compose_node(self, parent: Any, index: Any) -> Any:
        node = super().compose_node(parent, index)
        if id(node) in self._sizes:  # an alias: the node it names was counted already
            return node
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        # A child still being composed (a recursive alias) counts once.
        size = 1 + sum(self._sizes.get(id(c), 1) for c in children)
        self._sizes[id(node)] = size
        self._nodes.append(node)
        if size > self.node_limit or len(self._sizes) > self.node_limit:
            raise LimitError(
                f"the file holds over {self.node_limit} values, keys and lists "
                "(YAML aliases expanded)",
                line=node.start_mark.line + 1,
                hint=raise_hint("nodes"),
            )
        return node


def _sci_float(node: yaml.ScalarNode) -> float | None:
    """The number a plain scalar like ``1e-5`` means, or None if it is not one."""
    if node.style is not None or not node.tag.endswith(":str"):
        return None
    if not _SCI_NOTATION.match(node.value):
        return None
    try:
        return float(node.value)
    except ValueError:  # e.g. a misplaced underscore: keep it a string, as W&B does
        return None


def _construct_str(loader: _SweepLoader, node: yaml.ScalarNode) -> Any:
    number = _sci_float(node)
    return number if number is not None else loader.construct_scalar(node)


def _expects_text(path: KeyPath) -> bool:
    return (
        (len(path) == 1 and path[0] in _TEXT_FIELDS)
        or path[:1] == ("command",)
        or path
        == (
            "metric",
            "name",
        )
    )


_SweepLoader.add_constructor("tag:yaml.org,2002:str", _construct_str)


def format_path(path: KeyPath) -> str:
    """``('parameters', 'lr', 'min')`` -> ``parameters.lr.min``; list items as ``[i]``."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _check_depth(data: Any, shown: str) -> None:
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UsageError(f"the file nests deeper than {MAX_DEPTH} levels", path=shown)
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _read_text(path: Path) -> str:
    shown = str(path)
    try:
        return _read_checked(path, shown)
    except OSError as exc:  # a name too long, a permission problem, ...
        raise UsageError(f"cannot read: {exc.strerror or exc}", path=shown) from None


# A sweep file is a page of YAML; this bounds what a mistaken path (a log, a dataset) costs.
MAX_FILE_BYTES = 16 * 1024 * 1024


def _read_regular(path: Path, shown: str) -> bytes:
    """The bytes of a regular file, at most MAX_FILE_BYTES. Opened without blocking and checked
    with fstat first, so a FIFO or a device (a link to /dev/zero) is refused, never waited on
    or read without end."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(
                "not a regular file (a pipe, a device or a socket)",
                path=shown,
                hint="a sweep file is YAML or JSON text in a file",
            )
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise UsageError(
                f"the file is over {MAX_FILE_BYTES} bytes, too large for a sweep file",
                path=shown,
                hint="is this the sweep file? (a list of values that long belongs in the "
                "program's data, not in the sweep)",
            )
        return raw
    finally:
        os.close(fd)


def _read_checked(path: Path, shown: str) -> str:
    if not path.exists():
        raise UsageError(
            "no such file", path=shown, hint="check the path and the current directory"
        )
    if path.is_dir():
        raise UsageError(
            "is a directory, not a sweep file",
            path=shown,
            hint=f"give the files inside it, e.g. `{shown.rstrip('/')}/*.yaml`",
        )
    raw = _read_regular(path, shown)
    if b"\x00" in raw:
        raise UsageError(
            "not a text file (it contains binary data)",
            path=shown,
            hint="a sweep file is YAML or JSON text",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UsageError(
            "not UTF-8 text (undecodable byte)",
            path=shown,
            line=line,
            hint="save the file as UTF-8",
        ) from None
    if not text.strip() or all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        raise UsageError(
            "the file is empty",
            path=shown,
            hint="a sweep file needs at least `method:` and `parameters:`",
        )
    return text


def _yaml_error(shown: str, exc: yaml.YAMLError, text: str) -> UsageError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    hint = None
    if line is not None:
        source_line = text.splitlines()[line - 1] if line - 1 < len(text.splitlines()) else ""
        if "${" in source_line and "[" in source_line:
            hint = (
                "`${...}` cannot appear unquoted inside a [flow, list]: write the command as a "
                "block list (`- ${env}` on its own line) or quote each item"
            )
        elif "\t" in source_line[: len(source_line) - len(source_line.lstrip())]:
            hint = "YAML does not allow tabs for indentation: use spaces"
    return UsageError(message, path=shown, line=line, hint=hint)


def _walk(
    node: yaml.Node, path: KeyPath, doc: Document, loader: _SweepLoader, seen_nodes: set[int]
) -> None:
    if len(path) > MAX_DEPTH:
        raise UsageError(
            f"the file nests deeper than {MAX_DEPTH} levels",
            path=doc.source,
            line=node.start_mark.line + 1,
        )
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        # An alias points at a node already walked: walking it again for every reference
        # turns a few lines of anchors into billions of steps (the "billion laughs").
        if id(node) in seen_nodes:
            return
        seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = loader.construct_object(key_node, deep=True)
            else:
                key = f"<{key_node.tag.rsplit(':', 1)[-1]}>"
            try:
                hash(key)
            except TypeError:
                key = repr(key)
            line = key_node.start_mark.line + 1
            child = (*path, key)
            if key in seen and key != "<<":
                doc.problems.append(
                    Problem(
                        "warning",
                        f"key {key!r} appears twice (lines {seen[key]} and {line}); the last "
                        "one wins, as in W&B",
                        line=line,
                        path=format_path(child),
                        hint="remove one of them",
                    )
                )
            seen[key] = line
            doc.lines[child] = line
            if isinstance(key_node, yaml.ScalarNode) and not isinstance(key, str):
                doc.odd_keys[child] = key_node.value
            _walk(value_node, child, doc, loader, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            doc.lines[child] = item.start_mark.line + 1
            _walk(item, child, doc, loader, seen_nodes)
    elif isinstance(node, yaml.ScalarNode):
        _check_scalar(node, path, doc)


def _set(data: Any, path: KeyPath, value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def _check_scalar(node: yaml.ScalarNode, path: KeyPath, doc: Document) -> None:
    if node.tag.endswith(":int") and len(node.value) > MAX_NUMBER_DIGITS:
        raise UsageError(
            f"a number with {len(node.value)} digits is too long to use",
            path=doc.source,
            line=node.start_mark.line + 1,
        )
    if _sci_float(node) is None:
        return
    text = node.value
    if _expects_text(path):
        _set(doc.data, path, text)  # W&B's reading, and what the user meant here
        return
    doc.problems.append(
        Problem(
            "warning",
            f"{text} is read as the number {float(text.replace('_', ''))!r}; "
            f"W&B reads this as the string '{text}'",
            line=node.start_mark.line + 1,
            path=format_path(path),
            hint=f"write it as {_yaml_float(text)} so W&B reads a number too",
        )
    )


def _load_yaml(text: str, shown: str) -> tuple[Any, Document]:
    loader = None
    try:
        loader = _SweepLoader(text)
        node = loader.get_single_node()
        if node is None:
            raise UsageError(
                "the file is empty",
                path=shown,
                hint="a sweep file needs `method:` and `parameters:`",
            )
        data = loader.construct_document(node)
        doc = Document(data=data, source=shown, lines={(): node.start_mark.line + 1})
        # Merge keys (`<<`) were flattened in place while constructing, so the walk sees them.
        _walk(node, (), doc, loader, set())
    except yaml.YAMLError as exc:
        raise _yaml_error(shown, exc, text) from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        # PyYAML's constructors raise these for bad content under an explicit tag, such as
        # `!!bool abc` or `!!timestamp 2020-13-45`.
        raise UsageError(
            f"cannot read YAML: {type(exc).__name__}: {exc}",
            path=shown,
            hint="check explicit tags (`!!int`, `!!timestamp`, ...) and their values",
        ) from None
    except RecursionError:
        raise UsageError(f"the file nests deeper than {MAX_DEPTH} levels", path=shown) from None
    except LimitError as exc:
        exc.path = shown
        raise
    finally:
        if loader is not None:
            loader.dispose()
    return data, doc


def _yaml_float(text: str) -> str:
    """The spelling of a number that YAML 1.1 (and so W&B) reads as a float."""
    mantissa, _, exponent = text.lower().replace("_", "").partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    elif mantissa.endswith("."):
        mantissa += "0"
    if exponent[:1] not in "+-":
        exponent = "+" + exponent
    return f"{mantissa}e{exponent}"


def check_config_data(config: Any, source: str) -> dict[str, Any]:
    """A sweep given as a Python mapping, as the plain data a file would load into: string
    keys, lists for tuples, Python numbers for numpy-like scalars. Raises :class:`UsageError`
    naming the key path of a value no sweep file could hold."""
    if not isinstance(config, Mapping):
        raise UsageError(
            f"a sweep config must be a dict (or a path to a sweep file), not "
            f"{type(config).__name__}",
            path=source,
            hint="e.g. {'method': 'grid', 'parameters': {'lr': {'values': [0.1, 0.01]}}}",
        )

    def plain(value: Any, path: KeyPath) -> Any:
        if len(path) > MAX_DEPTH:
            raise UsageError(f"the sweep nests deeper than {MAX_DEPTH} levels", path=source)
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, Mapping):
            return {_key(k, path): plain(v, (*path, _key(k, path))) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v, (*path, i)) for i, v in enumerate(value)]
        item = getattr(value, "item", None)  # numpy and torch scalars
        if callable(item):
            with contextlib.suppress(Exception):
                scalar = item()
                if isinstance(scalar, (bool, int, float, str)):
                    return scalar
        raise UsageError(
            f"{format_path(path) or 'the sweep'}: a {type(value).__name__} cannot be part of a "
            "sweep config",
            path=source,
            hint="use numbers, strings, booleans, lists and dicts, as in a sweep file",
        )

    def _key(key: Any, path: KeyPath) -> str:
        if isinstance(key, str):
            return key
        if isinstance(key, (bool, int, float)):
            return str(key)
        raise UsageError(
            f"{format_path(path) or 'the sweep'}: key {key!r} is not a string", path=source
        )

    return plain(config, ())


def load_document(path: str | Path) -> Document:
    """Load a YAML or JSON sweep file; raise :class:`UsageError` if it cannot be read at all."""
    path = Path(path)
    shown = str(path)
    text = _read_text(path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"invalid JSON: {exc.msg}", path=shown, line=exc.lineno) from None
        except (ValueError, RecursionError) as exc:  # huge numbers, absurd nesting
            raise UsageError(f"invalid JSON: {type(exc).__name__}: {exc}", path=shown) from None
        _check_depth(data, shown)
        try:
            _, doc = _load_yaml(text, shown)
        except LimitError:
            raise
        except UsageError:
            doc = Document(data=None, source=shown, lines={(): 1})
        doc.data = data
    else:
        data, doc = _load_yaml(text, shown)
    if not isinstance(data, dict):
        kind = {list: "a list", str: "a string"}.get(type(data), f"a {type(data).__name__}")
        raise UsageError(
            f"the top level must be a mapping of keys (method:, parameters:, ...), found {kind}",
            path=shown,
            line=1,
            hint="a sweep file looks like `method: grid` followed by `parameters:`",
        )
    return doc
