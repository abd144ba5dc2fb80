"""The grader's side of the kernel agent: sealed tokens out, signed records back.

Student code shares its kernel with the tests, so the grader never lets trusted
code (locked given cells, test regions) pass through the student's IPython, and
never believes a pass it cannot verify (see ``kernel_agent``, which runs in the
kernel):

- a per-notebook random key reaches the kernel in a file the agent deletes as it
  starts (:func:`write_agent_config`), before any student cell runs;
- each trusted region is *sealed* with that key (:func:`seal`): the cell the kernel
  receives holds only ``__import__("sys").audit("convtrain.agent", "<token>")``, so
  neither an input transformer nor IPython's history sees a test's text, hidden tests
  included; the agent is an audit hook, which no Python code can reach;
- the agent appends one *signed record* per region to a file of the scratch folder;
  :func:`records` keeps only records signed with the key, for the region and nonce the
  grader sent.

A region passes when its cell ran to its end and exactly one valid record for it
says ``pass``. A missing, unsigned or duplicated record is a failure.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from convtrain.instructor.grading.kernel_agent import keystream

MARK = "@@convtrain-agent@@"
CONFIG_NAME = ".convtrain-agent.json"
RECORDS_NAME = ".convtrain-records"


@dataclasses.dataclass(frozen=True)
class Sealed:
    """One trusted region as sent to the kernel: the cell's text and what its record must say."""

    cell_source: str
    region: str
    nonce: str


def new_key() -> bytes:
    return secrets.token_bytes(32)


def private_digests(paths) -> list[str]:
    """SHA-256 of each resolved path: the kernel can test a path without knowing the list."""
    return sorted({hashlib.sha256(os.path.realpath(str(path)).encode()).hexdigest()
                   for path in paths})


def write_agent_config(scratch: Path, key: bytes, private_paths, installation,
                       cell_timeout: float = 120.0) -> Path:
    """The file the agent reads (and deletes) when it starts."""
    path = scratch / CONFIG_NAME
    config = {"key": key.hex(), "mark": MARK, "records": str(scratch / RECORDS_NAME),
              "protected_digests": private_digests(private_paths), "cell_timeout": cell_timeout,
              "installation": sorted({str(p) for p in installation}
                                     | {os.path.realpath(str(p)) for p in installation})}
    path.write_text(json.dumps(config))
    return path


def setup_source(config_path: Path) -> str:
    """The first cell of a grading run: installs the agent."""
    return (f"from convtrain.instructor.grading.kernel_agent import install as __convtrain_install\n"
            f"__convtrain_install({str(config_path)!r})\n"
            f"del __convtrain_install")


def seal(key: bytes, kind: str, region: str, code: str) -> Sealed:
    """A trusted region (``kind`` "test" or "given") sealed for the kernel."""
    nonce = secrets.token_hex(8)
    plain = f"{kind}\n{region}\n{nonce}\n{code}".encode()
    iv = secrets.token_bytes(16)
    body = bytes(a ^ b for a, b in zip(plain, keystream(key, iv, len(plain))))
    tag = hmac.new(key, iv + body, hashlib.sha256).digest()
    token = base64.b64encode(iv + tag + body).decode()
    return Sealed(f'__import__("sys").audit("convtrain.agent", "{token}")', region, nonce)


def open_sealed(key: bytes, cell_source: str) -> dict:
    """What a sealed cell holds (the kernel agent's view; for tests)."""
    token = cell_source.split('"')[5]
    raw = base64.b64decode(token)
    iv, tag, body = raw[:16], raw[16:48], raw[48:]
    if not hmac.compare_digest(tag, hmac.new(key, iv + body, hashlib.sha256).digest()):
        raise ValueError("token not sealed with this key")
    plain = bytes(a ^ b for a, b in zip(body, keystream(key, iv, len(body)))).decode()
    kind, region, nonce, code = plain.split("\n", 3)
    return {"kind": kind, "region": region, "nonce": nonce, "code": code}


def sign(key: bytes, record: dict) -> str:
    """A record line as the agent writes it (without the mark); for tests."""
    text = repr(record)
    return text + " " + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def records(key: bytes, text: str, sealed: Sealed) -> list[dict]:
    """The records in ``text`` (the agent's records file) that it signed for ``sealed``."""
    found = []
    for line in text.split("\n"):
        if not line.startswith(MARK + " "):
            continue
        body, _, signature = line[len(MARK) + 1:].rpartition(" ")
        expected = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature.strip(), expected):
            continue
        try:
            record = ast.literal_eval(body)
        except (ValueError, SyntaxError):
            continue
        if not isinstance(record, dict):
            continue
        if record.get("region") == sealed.region and record.get("nonce") == sealed.nonce:
            found.append(record)
    return found


def merged_reports(all_records: list[dict]) -> dict:
    """What the agent saw over the whole run: the counts only grow, so the last ones win."""
    merged = {"tamper": set(), "forbidden": 0, "network": 0}
    for record in all_records:
        merged["tamper"].update(record.get("tamper", []))
        merged["forbidden"] = max(merged["forbidden"], int(record.get("forbidden", 0)))
        merged["network"] = max(merged["network"], int(record.get("network", 0)))
    return merged


def without_marks(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not line.startswith(MARK))
