"""Incremental ODM XML output: lxml's ``xmlfile`` with a readable layout and text that XML 1.0 can carry.

Every element goes through ``xmlfile.element`` (never ``xmlfile.write(tree)``): a written subtree would repeat
the ODM namespace declaration on every element, and the file is written as it goes, so memory stays flat
however long the audit trail is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
#: written literally: lxml's incremental writer would otherwise bind the reserved namespace to a new prefix.
XML_LANG = "xml:lang"
LANGUAGE = "en"

#: Characters XML 1.0 cannot carry (control characters other than tab and line breaks, lone surrogates,
#: U+FFFE/U+FFFF). Free text typed into a form could hold one; it becomes U+FFFD rather than stopping the export.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _qualified(tag: str) -> str:
    return f"{{{ODM_NS}}}{tag}"


class XmlOut:
    """Writes ODM elements into an open ``lxml.etree.xmlfile``, indented two spaces per level."""

    def __init__(self, xf: Any) -> None:
        self._xf = xf
        self._depth = 0
        self._has_children: list[bool] = []

    def _indent(self) -> None:
        if self._has_children:
            self._has_children[-1] = True
        self._xf.write("\n" + "  " * self._depth)

    @staticmethod
    def _attributes(attributes: Mapping[str, str | None] | None) -> dict[str, str]:
        return {key: xml_text(value) for key, value in (attributes or {}).items() if value is not None}

    @contextmanager
    def element(
        self, tag: str, attributes: Mapping[str, str | None] | None = None, *, root: bool = False
    ) -> Iterator[None]:
        """An element with child elements, written as the ``with`` block runs."""
        if not root:
            self._indent()
        namespaces = {None: ODM_NS} if root else None
        with self._xf.element(_qualified(tag), self._attributes(attributes), nsmap=namespaces):
            self._depth += 1
            self._has_children.append(False)
            yield
            had_children = self._has_children.pop()
            self._depth -= 1
            if had_children:
                self._xf.write("\n" + "  " * self._depth)

    def leaf(self, tag: str, attributes: Mapping[str, str | None] | None = None, text: str | None = None) -> None:
        """An element with no child elements (text content or none)."""
        self._indent()
        with self._xf.element(_qualified(tag), self._attributes(attributes)):
            if text:
                self._xf.write(xml_text(text))

    def translated(self, tag: str, text: str) -> None:
        """``<tag><TranslatedText xml:lang="en">text</TranslatedText></tag>`` (Question, Decode, Symbol...)."""
        with self.element(tag):
            self.leaf("TranslatedText", {XML_LANG: LANGUAGE}, text)
