"""Text helpers every layer shares, kept at the bottom so that nothing reaches up for them."""

from __future__ import annotations


def join_title_text(title: str | None, text: str | None) -> str:
    """The one way title and body become model input, shared by training and scoring."""
    title = (title or "").strip()
    text = (text or "").strip()
    if title and not text.startswith(title):
        return f"{title}\n\n{text}" if text else title
    return text
