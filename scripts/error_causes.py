#!/usr/bin/env python3
"""Errors that say their cause twice.

Every `thiserror` variant under src/ says a cause either in its message or as its source
(a `#[source]` or `#[from]` field, or a field named `source`), never both: the chain printer
(`errors::Chain`, `anyhow`'s `{:#}`) prints the source after the message, so a message that
also interpolates it shows the cause twice. Reads the `#[error("…")]` attribute of each
variant and the fields that follow it, as text (no Rust parser): a pattern the regexes do not
know is passed over, never reported.

Prints `file: Variant: field` for each variant that does both and exits 1; exits 0 when there
is none.

    python3 scripts/error_causes.py          # tests/run.sh runs it
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"

# `#[error(<message>)]`, doc comments, then the variant: `Name { fields }` or `Name(fields)`.
VARIANT = re.compile(
    r"#\[error\((?P<msg>.*?)\)\]\s*(?:///[^\n]*\n\s*)*(?P<name>\w+)\s*"
    r"(?P<body>\{.*?\n\s*\}|\(.*?\))",
    re.S,
)
# A named field, with the attribute that makes it the source (if any).
FIELD = re.compile(r"(#\[(?:source|from)\]\s*)?(?:///[^\n]*\n\s*)*(?:pub(?:\(\w+\))?\s+)?(\w+)\s*:")


def sources(body):
    """The fields of a variant that thiserror makes its source."""
    if body.startswith("("):
        return ["0"] if ("#[source]" in body or "#[from]" in body) else []
    return [m.group(2) for m in FIELD.finditer(body) if m.group(1) or m.group(2) == "source"]


def said_in(message, field):
    """Whether the `#[error]` message interpolates `field` (`{field}`, `{field:?}`, `.field`)."""
    pattern = r"\{%s[}:]|\.%s\b" % (re.escape(field), re.escape(field))
    return re.search(pattern, message) is not None


def main():
    found = []
    for path in sorted(SRC.rglob("*.rs")):
        text = path.read_text(encoding="utf-8")
        for m in VARIANT.finditer(text):
            if "transparent" in m.group("msg"):
                continue
            for field in sources(m.group("body")):
                if said_in(m.group("msg"), field):
                    found.append(f"{path.relative_to(ROOT)}: {m.group('name')}: {field}")
    for line in found:
        print(f"cause in the message and as the source: {line}")
    if found:
        print("say it once: drop it from the message (the chain prints it) or drop #[source]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
