"""YAML for configs, codebooks and stance files, bounded so a small file stays small.

``yaml.safe_load`` expands aliases: a few hundred bytes of nested anchors (a "billion
laughs" file) become gigabytes in memory. Our files never need anchors, so aliases are
refused with the file and line; messages quoting a file are cut to a readable length.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent

MAX_MESSAGE = 400  # characters of a YAML error quoted back to the user
MAX_BYTES = 10_000_000  # a config or codebook larger than this is a mistake, not a file


class YamlError(ValueError):
    """A YAML file that cannot be used; the message names the file and line."""


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases (``*name``), so nothing expands beyond the file."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(AliasEvent):
            event = self.peek_event()
            raise YamlError(
                f"{self.name}: line {event.start_mark.line + 1}: YAML aliases (*{event.anchor}) "
                "are not supported; write the value out"
            )
        return super().compose_node(parent, index)


def short(message: object) -> str:
    text = str(message)
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + " …(cut)"


def load_yaml(text: str, name: str, loader: type[BoundedLoader] = BoundedLoader) -> Any:
    """Parse ``text`` (read from ``name``) with ``loader``; errors name the file."""
    if len(text) > MAX_BYTES:
        raise YamlError(f"{name}: {len(text):,} bytes is too large for a YAML config")
    ldr = loader(text)
    ldr.name = name
    try:
        return ldr.get_single_data()
    except yaml.YAMLError as exc:
        raise YamlError(f"{name}: not valid YAML: {short(exc)}") from None
    finally:
        ldr.dispose()
