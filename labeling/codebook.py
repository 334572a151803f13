"""Codebooks and stance targets: YAML data, validated at load, compiled once.

A codebook is data, not code: a user adds one by writing YAML. Validation happens at
load so a duplicate key, an empty lexicon or a bad regex is reported with the file and
line before any document is read. Each codebook's cues are compiled into one matcher
that finds them all in a single pass over a document, not one regex pass per cue.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex
import yaml

from labeling.yamlio import BoundedLoader, YamlError, load_yaml, short


class CodebookError(ValueError):
    """A codebook or stance file that cannot be used; names file and line."""


class _LineLoader(BoundedLoader):
    """SafeLoader that rejects duplicate keys and remembers where each key stood."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise CodebookError(
                f"{loader.name}: line {line}: duplicate key {key!r} (first at line {seen[key]})"
            )
        seen[key] = line
    mapping = loader.construct_mapping(node, deep=deep)
    mapping["__lines__"] = seen
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise CodebookError(f"{p}: file not found")
    try:
        data = load_yaml(p.read_text(encoding="utf-8"), str(p), _LineLoader)
    except (YamlError, UnicodeDecodeError) as exc:
        raise CodebookError(short(exc) if isinstance(exc, YamlError) else f"{p}: {exc}") from None
    if not isinstance(data, dict):
        raise CodebookError(f"{p}: top level must be a mapping")
    return data


def _keyed_section(data: dict[str, Any], section: str, what: str, path: str):
    """(key, spec, "file: line N: what 'key'") for each snake_case key of a section."""
    lines = data.get("__lines__", {})
    raw = data.get(section)
    if not isinstance(raw, dict) or not [k for k in raw if k != "__lines__"]:
        raise CodebookError(f"{path}: line {lines.get(section, 1)}: needs a '{section}:' mapping")
    klines = raw.get("__lines__", {})
    for key, spec in raw.items():
        if key == "__lines__":
            continue
        where = f"{path}: line {klines.get(key, '?')}: {what} {key!r}"
        if not re.fullmatch(r"[a-z][a-z0-9_]*", str(key)):
            raise CodebookError(f"{where}: keys must be snake_case")
        yield key, spec, where


def cue_to_regex(cue: str, where: str) -> str:
    """Turn one cue into a regex fragment: phrase on word boundaries, * = word ending."""
    cue = original = str(cue).strip()
    if not cue:
        raise CodebookError(f"{where}: empty cue")
    if cue.startswith("re:"):
        pattern = cue[3:]
    else:
        if cue.startswith("case:"):
            cue = cue[5:]
        parts = [re.escape(w) for w in cue.rstrip("*").split()]
        pattern = r"\s+".join(parts) + (r"[\w'-]*" if cue.endswith("*") else "")
        lead = r"\b" if re.match(r"\w", cue) else ""
        tail = r"\b" if re.search(r"\w$", cue.rstrip("*")) or cue.endswith("*") else ""
        pattern = f"{lead}{pattern}{tail}"
    try:
        compiled = regex.compile(pattern)
    except regex.error as exc:
        raise CodebookError(f"{where}: invalid regex {cue!r}: {exc}") from exc
    if _matches_empty(compiled):
        raise CodebookError(
            f"{where}: cue {original!r} can match the empty string; a cue must match some text"
        )
    return pattern


# Texts on which a pattern that can match nothing shows it: empty, blank, a word end, a
# sentence. A pattern that matches the empty string only elsewhere is still harmless at
# run time: ``CueMatcher`` skips empty matches and always advances.
_EMPTY_PROBES = ("", " ", "a", "NATO met.", "a b\n\nc-d 12", "Ä ы 中")


def _matches_empty(pattern: regex.Pattern[str]) -> bool:
    try:
        return any(
            m.end() == m.start()
            for probe in _EMPTY_PROBES
            for m in pattern.finditer(probe, timeout=CUE_TIMEOUT)
        )
    except TimeoutError:
        return False  # slow, not empty: the timeout at run time names it


_WORD = re.compile(r"\w+")
CUE_TIMEOUT = 2.0  # seconds one regex cue may take on one text before the run stops


def _first_word(cue: str) -> tuple[str | None, bool]:
    """The case-folded word a plain cue must start at, and whether it is only a prefix.

    Mirrors ``cue_to_regex``: a plain cue starting with a word character can only match
    where a run of word characters starts, and that run equals the cue's first run of word
    characters ("alliance's" -> "alliance"), or starts with it for a one-word "stem*". Regex
    cues and cues starting with punctuation return None: they are searched for directly.
    """
    c = cue.strip()
    if c.startswith("re:"):
        return None, False
    if c.startswith("case:"):
        c = c[5:]
    words = c.rstrip("*").split()
    if not words or not re.match(r"\w", c):
        return None, False
    run = re.match(r"\w+", words[0])
    assert run is not None
    prefix = c.endswith("*") and len(words) == 1 and run.group() == words[0]
    return run.group().casefold(), prefix


class CueMatcher:
    """All cues of many groups, found in one left-to-right pass; each match tells its group.

    The result is that of one alternation regex over every cue, longer cues first
    (leftmost match wins; at one position the longest cue that fits; no overlaps). That
    regex is how this used to run, and it is slow: Python's ``re`` tries every branch at
    every character, about 0.3 s per 3 KB article (title, lead and body) for the MFC
    codebook on the shared 2-core machine. So each cue is compiled alone and tried only
    where it can start: a plain cue at a word whose case-folded form is the cue's first
    word (or begins with it, for ``stem*``), found with one dictionary lookup per word;
    regex cues where their own search finds them.
    """

    _MEMO_LIMIT = 200_000  # distinct words remembered; cleared when full (bounded memory)

    def __init__(self, groups: dict[str, list[str]], where: str) -> None:
        # Longer cues first: at one position the first cue that fits wins, so
        # "Moscow-led bloc" must be tried before "Moscow".
        ordered = sorted(
            ((name, str(cue)) for name, cues in groups.items() for cue in cues),
            key=lambda nc: -len(nc[1]),
        )
        self.where = where
        self.names: list[str] = []
        self.cues: list[str] = []
        self.patterns: list = []  # re patterns for plain cues, regex (with timeouts) for re:
        self.exact: dict[str, list[int]] = {}
        self.prefix: dict[str, list[int]] = {}
        self.searched: list[int] = []  # regex cues: no word to index them by
        self._regex_cues: set[int] = set()
        for b, (name, cue) in enumerate(ordered):
            frag = cue_to_regex(cue, f"{where}: {name}")
            sensitive = cue.startswith("case:")
            flagged = frag if sensitive else f"(?i:{frag})"
            # Plain cues are escaped words and cannot backtrack badly; user regexes can,
            # so they run under the ``regex`` module's timeout.
            is_regex = cue.strip().startswith("re:")
            self.patterns.append(regex.compile(flagged) if is_regex else re.compile(flagged))
            if is_regex:
                self._regex_cues.add(b)
            self.names.append(name)
            self.cues.append(cue)
            word, is_prefix = _first_word(cue)
            if word is None:
                self.searched.append(b)
            else:
                (self.prefix if is_prefix else self.exact).setdefault(word, []).append(b)
        self._prefix_lengths = sorted({len(k) for k in self.prefix})
        self._memo: dict[str, tuple[int, ...]] = {}

    def _cues_at_word(self, word: str) -> tuple[int, ...]:
        found = self._memo.get(word)
        if found is None:
            w = word.casefold()
            hits = list(self.exact.get(w, ()))
            for n in self._prefix_lengths:
                if n > len(w):
                    break
                hits += self.prefix.get(w[:n], ())
            found = tuple(hits)
            if len(self._memo) >= self._MEMO_LIMIT:
                self._memo.clear()
            self._memo[word] = found
        return found

    def finditer(self, text: str) -> Iterator[tuple[str, re.Match[str]]]:
        starts: dict[int, list[int]] = {}
        if self.exact or self.prefix:
            for w in _WORD.finditer(text):
                cues = self._cues_at_word(w.group())
                if cues:
                    starts.setdefault(w.start(), []).extend(cues)
        for b in self.searched:
            for start in self._search_starts(b, text):
                starts.setdefault(start, []).append(b)
        end = 0
        for s in sorted(starts):
            if s < end:
                continue
            for b in sorted(starts[s]):
                m = self._match(b, text, s)
                if m is not None and m.end() > m.start():  # an empty match is no cue hit
                    yield self.names[b], m
                    end = m.end()
                    break

    def _search_starts(self, b: int, text: str) -> Iterator[int]:
        """Where regex cue ``b`` can start; always advancing, so it ends on any pattern."""
        pos, n = 0, len(text)
        while pos <= n:
            m = self._search(b, text, pos)
            if m is None:
                return
            if m.end() > m.start():
                yield m.start()
            pos = m.start() + 1

    def _search(self, b: int, text: str, pos: int):
        return self._run(b, "search", text, pos)

    def _match(self, b: int, text: str, pos: int):
        if b not in self._regex_cues:  # plain cues: the per-word hot path, direct
            return self.patterns[b].match(text, pos)
        return self._run(b, "match", text, pos)

    def _run(self, b: int, op: str, text: str, pos: int):
        """``search`` or ``match`` of cue ``b``; a user regex under the timeout."""
        method = getattr(self.patterns[b], op)
        if b not in self._regex_cues:
            return method(text, pos)
        try:
            return method(text, pos, timeout=CUE_TIMEOUT)
        except TimeoutError:
            raise CodebookError(self._slow(b)) from None

    def _slow(self, b: int) -> str:
        return (
            f"{self.where}: {self.names[b]}: cue {self.cues[b]!r} took over {CUE_TIMEOUT:g} s "
            "on one text (catastrophic backtracking?); simplify the regex"
        )

    def counts(self, text: str) -> dict[str, list[str]]:
        hits: dict[str, list[str]] = {}
        for name, m in self.finditer(text):
            hits.setdefault(name, []).append(m.group(0).lower())
        return hits


@dataclass
class Frame:
    key: str
    label: str
    definition: str
    cues: list[str]
    questions: list[str] = field(default_factory=list)


@dataclass
class Codebook:
    name: str
    path: str
    frames: dict[str, Frame]
    title: str = ""
    reference: str = ""

    @property
    def keys(self) -> list[str]:
        return list(self.frames)

    def matcher(self) -> CueMatcher:
        return CueMatcher({k: f.cues for k, f in self.frames.items()}, self.path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "reference": self.reference,
            "frames": {
                k: {"label": f.label, "definition": f.definition, "cues": f.cues}
                for k, f in self.frames.items()
            },
        }


# Built-in codebooks and stance targets ship inside the package, so a project outside the
# repository names them (``codebook: mfc``, ``stance: default``) without copying configs/.
BUILTIN_DIRS = {
    "codebook": Path(__file__).parent / "codebooks",
    "stance": Path(__file__).parent / "targets",
}
BUILTIN_PREFIX = "builtin:"
_NAME = re.compile(r"[A-Za-z0-9_-]+")


def builtin_names(kind: str) -> list[str]:
    """The built-ins of ``kind`` ("codebook" or "stance"), e.g. ``['generic', 'mfc']``."""
    return sorted(p.stem for p in BUILTIN_DIRS[kind].glob("*.yaml"))


def is_builtin_ref(value: str) -> bool:
    """A ``builtin:NAME`` or a bare name (no folder, no suffix): never a path to resolve."""
    name = value[len(BUILTIN_PREFIX) :] if value.startswith(BUILTIN_PREFIX) else value
    return bool(_NAME.fullmatch(name))


def resolve_ref(ref: str | Path, kind: str) -> Path:
    """The file that ``ref`` names: a built-in for ``builtin:NAME`` or a bare NAME, else the
    path itself. An unknown built-in fails here, listing the ones that exist."""
    text = str(ref)
    if isinstance(ref, Path) or not is_builtin_ref(text):
        return Path(ref)
    name = text.removeprefix(BUILTIN_PREFIX)
    path = BUILTIN_DIRS[kind] / f"{name}.yaml"
    if not path.is_file():
        if not text.startswith(BUILTIN_PREFIX) and Path(text).is_file():
            return Path(text)  # a file that happens to have no suffix
        known = ", ".join(builtin_names(kind))
        raise CodebookError(f"{text}: no built-in {kind} {name!r} (built-in: {known})")
    return path


def load_codebook(path: str | Path) -> Codebook:
    path = resolve_ref(path, "codebook")
    data = _load_yaml(path)
    frames: dict[str, Frame] = {}
    for key, spec, where in _keyed_section(data, "frames", "frame", str(path)):
        if not isinstance(spec, dict):
            raise CodebookError(f"{where}: must be a mapping with definition and cues")
        cues = spec.get("cues") or []
        if not isinstance(cues, list) or not cues:
            raise CodebookError(f"{where}: empty cue lexicon")
        for cue in cues:
            cue_to_regex(cue, where)
        frames[key] = Frame(
            key=key,
            label=str(spec.get("label", key.replace("_", " ").capitalize())),
            definition=str(spec.get("definition", "")).strip(),
            cues=[str(c) for c in cues],
            questions=[str(q) for q in _phrases(spec.get("questions"), f"{where}: questions")],
        )
    return Codebook(
        name=str(data.get("name", Path(path).stem)),
        path=str(path),
        frames=frames,
        title=str(data.get("title", "")),
        reference=str(data.get("reference", "")),
    )


# ----------------------------------------------------------------------------- stance
@dataclass
class Target:
    key: str
    name: str
    aliases: list[str]


@dataclass
class StanceSpec:
    path: str
    labels: list[str]
    targets: dict[str, Target]
    favor_cues: list[str]
    against_cues: list[str]
    negations: list[str]
    reporting_verbs: list[str]
    window: int = 1

    def mention_matcher(self) -> CueMatcher:
        return CueMatcher({k: t.aliases for k, t in self.targets.items()}, self.path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "window": self.window,
            "targets": {k: {"name": t.name, "aliases": t.aliases} for k, t in self.targets.items()},
            "cues": {
                "favor": self.favor_cues,
                "against": self.against_cues,
                "negations": self.negations,
                "reporting_verbs": self.reporting_verbs,
            },
        }


def load_stance(path: str | Path) -> StanceSpec:
    path = resolve_ref(path, "stance")
    data = _load_yaml(path)
    return stance_from_dict(data, str(path))


def _phrases(value: Any, where: str) -> list[Any]:
    """A list of phrases (strings, or numbers YAML typed): anything else names the key."""
    if value is None:
        return []
    if not isinstance(value, list) or any(isinstance(v, (dict, list)) for v in value):
        raise CodebookError(f"{where}: must be a list of phrases (got {type(value).__name__})")
    return value


def stance_from_dict(data: dict[str, Any], path: str) -> StanceSpec:
    targets: dict[str, Target] = {}
    for key, spec, where in _keyed_section(data, "targets", "target", path):
        if spec is not None and not isinstance(spec, dict):
            raise CodebookError(f"{where}: must be a mapping with name and aliases")
        aliases = _phrases((spec or {}).get("aliases"), f"{where}: aliases")
        if not aliases:
            raise CodebookError(f"{where}: needs at least one alias")
        for a in aliases:
            cue_to_regex(a, where)
        targets[key] = Target(key, str(spec.get("name", key)), [str(a) for a in aliases])
    cues = data.get("cues") or {}
    if not isinstance(cues, dict):
        raise CodebookError(f"{path}: 'cues' must be a mapping of favor, against, ... lists")
    cues = dict(cues)  # the caller's dict (a run's recorded spec) stays as it was
    for name in ("favor", "against", "negations", "reporting_verbs"):
        cues[name] = _phrases(cues.get(name), f"{path}: cues.{name}")
    labels = _phrases(data.get("labels", ["favor", "against", "neutral"]), f"{path}: labels")
    labels = [str(x) for x in labels]
    window = data.get("window", 1)
    if not isinstance(window, int) or isinstance(window, bool) or window < 0:
        raise CodebookError(f"{path}: 'window' must be a whole number of sentences >= 0")
    if "not_mentioned" in labels:
        raise CodebookError(f"{path}: 'not_mentioned' is decided by rule; do not list it")
    spec = StanceSpec(
        path=path,
        labels=labels,
        targets=targets,
        favor_cues=[str(c) for c in cues.get("favor", [])],
        against_cues=[str(c) for c in cues.get("against", [])],
        negations=[str(c) for c in cues.get("negations", [])],
        reporting_verbs=[str(c) for c in cues.get("reporting_verbs", [])],
        window=window,
    )
    for name in ("favor", "against"):
        for cue in cues.get(name, []):
            cue_to_regex(cue, f"{path}: cues.{name}")
    return spec
