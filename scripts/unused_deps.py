#!/usr/bin/env python3
"""Lists dependencies a workspace member declares but never names in its Rust sources.

A dependency counts as used when its crate name (dashes as underscores) appears as a path root
(`name::`) or in a `use`/`extern crate` item in any `.rs` file of the member. Dependencies that
are needed only for their features can be listed in the member's
`[package.metadata.unused-deps] ignore = [...]`.

usage: scripts/unused_deps.py  (from anywhere; exit 1 when something is unused)
"""
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def members():
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())
    return [ROOT / m for m in workspace["workspace"]["members"]]


def sources(member):
    return "\n".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in member.rglob("*.rs")
        if "target" not in p.relative_to(member).parts
    )


def main():
    unused = []
    for member in members():
        manifest = tomllib.loads((member / "Cargo.toml").read_text())
        ignore = set(
            manifest.get("package", {}).get("metadata", {}).get("unused-deps", {}).get("ignore", [])
        )
        text = sources(member)
        for table in ("dependencies", "dev-dependencies", "build-dependencies"):
            for name, spec in manifest.get(table, {}).items():
                crate = spec.get("package", name) if isinstance(spec, dict) else name
                ident = name.replace("-", "_") if crate == name else name.replace("-", "_")
                if name in ignore:
                    continue
                pattern = rf"\b{re.escape(ident)}::|\buse\s+{re.escape(ident)}\b|\bextern\s+crate\s+{re.escape(ident)}\b|#\[{re.escape(ident)}::"
                if not re.search(pattern, text):
                    unused.append(f"{member.name}: [{table}] {name}")
    for line in unused:
        print(f"unused dependency: {line}")
    if unused:
        sys.exit(1)
    print("no unused dependencies")


if __name__ == "__main__":
    main()
