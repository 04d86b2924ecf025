"""Safe YAML loading that remembers the line of every key, so errors can say file:line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .._errors import ScenarioError

#: Largest number of keys and items a scenario document may expand to.
MAX_KEYS = 100_000

#: A key path inside a YAML document: mapping keys (str) and sequence indices (int).
KeyPath = tuple[str | int, ...]

#: Prefix of the standard YAML tags (``!!int`` is ``tag:yaml.org,2002:int``).
_YAML = "tag:yaml.org,2002:"

#: Tags a scenario may hold: the plain YAML types (explicit ``!!str`` or resolved implicitly).
_PLAIN_TAGS = frozenset(
    _YAML + name for name in ("map", "seq", "str", "int", "float", "bool", "null", "timestamp")
)

#: The C composer when PyYAML was built with libyaml (~170x faster; same nodes and marks).
_COMPOSE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Tags that a bare ``=`` or ``<<`` value resolves to; such scalars are read as their text.
_TEXT_TAGS = frozenset((_YAML + "value", _YAML + "merge"))


@dataclass
class YamlDocument:
    """A parsed YAML document with the 1-based line of each key path.

    Attributes
    ----------
    data
        The document as plain Python (dict, list, str, int, float, bool, None).
    lines
        ``{key path: line}`` for every mapping key and sequence item; ``()`` is the document start.
    file
        The file it came from.
    """

    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    file: Path | None = None

    def line_of(self, path: KeyPath) -> int | None:
        """Return the line of ``path``, or of its deepest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


def format_key_path(path: KeyPath) -> str:
    """Render ``("patches", 2, "road")`` as ``patches[2].road``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def parse_key_path(text: str) -> KeyPath:
    """Parse ``patches[2].road`` back into ``("patches", 2, "road")``."""
    path: list[str | int] = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", text):
        path.append(int(part[1:-1]) if part.startswith("[") else part)
    return tuple(path)


def _construct(
    node: yaml.Node,
    path: KeyPath,
    lines: dict[KeyPath, int],
    file: Path | None,
    loader: yaml.SafeLoader,
) -> Any:
    """Turn a composed node into plain Python, recording the line of every key path."""
    collection = {yaml.MappingNode: "map", yaml.SequenceNode: "seq"}.get(type(node))
    if collection is not None:
        refused = node.tag != _YAML + collection  # `!!int [1]` or `!!seq {a: 1}`
    else:
        refused = node.tag in (_YAML + "map", _YAML + "seq") or (
            node.tag not in _PLAIN_TAGS and node.tag not in _TEXT_TAGS
        )
    if refused:
        # Safe loading never builds such objects, but a silently ignored tag on a mapping or
        # sequence would hide what the author meant; say so instead.
        allowed = node.tag in _PLAIN_TAGS or node.tag in _TEXT_TAGS
        raise ScenarioError(
            f"YAML tag {node.tag!r} is not allowed "
            + (f"on a {node.id}" if allowed else "in scenario files"),
            file=file,
            line=node.start_mark.line + 1,
            key=format_key_path(path) or None,
            hint="remove the tag: scenario files hold plain values only",
        )
    lines.setdefault(path, node.start_mark.line + 1)
    if len(lines) > MAX_KEYS:
        # Aliases (&a / *a) can make a small file expand enormously; scenarios are small.
        raise ScenarioError(
            f"the document expands to more than {MAX_KEYS} keys and items",
            file=file,
            line=node.start_mark.line + 1,
            hint="scenario files are small; check for runaway YAML aliases (*name)",
        )
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ScenarioError(
                    "YAML merge keys ('<<') are not supported in scenario files",
                    file=file,
                    line=key_node.start_mark.line + 1,
                    key=format_key_path(path) or None,
                    hint="use 'base:' to inherit another scenario",
                )
            key = _construct(key_node, path, {}, file, loader)
            if not isinstance(key, str | int | float | bool) or key is None:
                raise ScenarioError(
                    f"mapping keys must be plain strings, got {key!r}",
                    file=file,
                    line=key_node.start_mark.line + 1,
                    key=format_key_path(path) or None,
                )
            key = str(key) if not isinstance(key, str) else key
            child = (*path, key)
            if key in result:
                raise ScenarioError(
                    f"key '{key}' appears twice",
                    file=file,
                    line=key_node.start_mark.line + 1,
                    key=format_key_path(child),
                    hint="remove one of the two entries",
                )
            lines[child] = key_node.start_mark.line + 1
            result[key] = _construct(value_node, child, lines, file, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item_node in enumerate(node.value):
            child = (*path, index)
            lines[child] = item_node.start_mark.line + 1
            items.append(_construct(item_node, child, lines, file, loader))
        return items
    return _scalar(node, loader, file, path)


def _scalar(node: yaml.Node, loader: yaml.SafeLoader, file: Path | None, path: KeyPath) -> Any:
    """Construct one scalar with the safe constructors (int, float, bool, null, str, date)."""
    if node.tag in _TEXT_TAGS:
        return str(node.value)
    try:
        value = loader.construct_object(node, deep=True)
    except (ValueError, KeyError, AttributeError, TypeError):
        # Only an explicit tag (`!!int x`) can meet text its constructor does not parse.
        raise ScenarioError(
            f"{node.value!r} is not a valid {node.tag.removeprefix(_YAML)}",
            file=file,
            line=node.start_mark.line + 1,
            key=format_key_path(path) or None,
            hint="remove the tag or fix the value",
        ) from None
    # Dates are not used in scenarios; keep them as text so models see what the user wrote.
    if not isinstance(value, str | int | float | bool) and value is not None:
        return str(node.value)
    return value


def _bad_character(
    character: int | str, text: str, position: int, file: Path | None
) -> ScenarioError:
    """The error for a character YAML does not allow (control characters, lone surrogates)."""
    shown = f"#x{character:04x}" if isinstance(character, int) else repr(character)
    return ScenarioError(
        f"not valid YAML: character {shown} is not allowed",
        file=file,
        line=text.count("\n", 0, position) + 1,
        hint="remove control characters; save the file as plain UTF-8 text",
    )


def parse_yaml(text: str, file: Path | None = None) -> YamlDocument:
    """Parse YAML text safely and record the line of every key.

    Parameters
    ----------
    text
        The YAML source.
    file
        Where it came from (only for error messages).

    Returns
    -------
    YamlDocument

    Raises
    ------
    ScenarioError
        When the text is not valid YAML, has duplicate keys, or uses merge keys or tags
        other than the plain types (``!!python/...``, ``!!binary``, local ``!tags``).
    """
    try:
        node = yaml.compose(text, Loader=_COMPOSE_LOADER)
    except RecursionError:
        raise ScenarioError("the YAML is nested too deeply", file=file) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or "malformed YAML"
        if "maximum nesting depth" in problem:  # libyaml's limit, where Python recurses
            raise ScenarioError(
                "the YAML is nested too deeply",
                file=file,
                line=mark.line + 1 if mark is not None else None,
            ) from None
        raise ScenarioError(
            f"not valid YAML: {problem}",
            file=file,
            line=mark.line + 1 if mark is not None else None,
            hint="check indentation, colons and brackets on this line or the one before",
        ) from None
    except yaml.reader.ReaderError as error:
        # The pure reader counts characters and libyaml bytes; the offending character's
        # first occurrence is where either stopped.
        found = text.find(chr(error.character)) if isinstance(error.character, int) else -1
        position = found if found >= 0 else min(error.position, len(text))
        raise _bad_character(error.character, text, position, file) from None
    except UnicodeEncodeError as error:  # libyaml encodes str to UTF-8: lone surrogates
        raise _bad_character(ord(text[error.start]), text, error.start, file) from None
    except yaml.YAMLError as error:
        raise ScenarioError(f"not valid YAML: {error}", file=file) from None
    if node is None:
        return YamlDocument(data=None, lines={(): 1}, file=file)
    lines: dict[KeyPath, int] = {}
    try:
        data = _construct(node, (), lines, file, yaml.SafeLoader(""))
    except RecursionError:
        raise ScenarioError(
            "the YAML is nested too deeply (or an alias refers to itself)", file=file
        ) from None
    except yaml.constructor.ConstructorError as error:
        mark = error.problem_mark
        raise ScenarioError(
            f"not valid YAML: {error.problem}",
            file=file,
            line=mark.line + 1 if mark is not None else None,
        ) from None
    return YamlDocument(data=data, lines=lines, file=file)


def load_yaml(path: str | Path) -> YamlDocument:
    """Read and parse a YAML file safely (see :func:`parse_yaml`).

    Raises
    ------
    ScenarioError
        When the file is missing, unreadable, not UTF-8 or not valid YAML.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("file not found", file=path) from None
    except UnicodeDecodeError:
        raise ScenarioError("file is not UTF-8 text", file=path) from None
    except OSError as error:
        raise ScenarioError(f"cannot read file: {error.strerror}", file=path) from None
    return parse_yaml(text, file=path)
