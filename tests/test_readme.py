"""Every ```python block of README.md runs as written (in a temporary folder, blocks in order, one namespace),
and every `ldrx ...` command line the README shows parses."""
import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_blocks():
    assert _blocks("python")


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    import warnings
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__readme__"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, block in enumerate(_blocks("python")):
            code = compile(block, f"README.md python block {k + 1}", "exec")
            exec(code, namespace)  # noqa: S102 - the README is part of this repository


def test_readme_cli_commands_parse(monkeypatch):
    """Each `ldrx ...` command in the README is accepted by the parser (not run: the main job trains for minutes)."""
    from ldrx.cli import build_parser
    text = README.read_text()
    commands = set(re.findall(r"(?:^|&& |`)(ldrx (?:fit|eval|predict|params|info|cv|bench|voltage)[^`\n&|#]*)", text, flags=re.M))
    parser = build_parser()
    for c in commands:
        args = shlex.split(c.strip())[1:]
        if any(a in ("...", "|") or set(a) <= set("[]|") for a in args) or any("|" in a or "[" in a for a in args):
            continue  # a synopsis, not a command
        if len(args) == 1 and args[0] in ("cv", "bench", "voltage"):
            continue  # the command's name in running text (they all take arguments)
        try:
            parser.parse_args(args)
        except SystemExit as exc:
            pytest.fail(f"README command does not parse: {c!r} ({exc})")


def test_readme_main_job_is_the_quick_benchmark():
    """The README's first command (`pip install . && ldrx bench ...`) parses and names a configuration that
    exists wherever ldrx is installed (a bundled one, or a file of this repository)."""
    from ldrx.benchmark.config import load_config
    from ldrx.cli import build_parser
    first = re.search(r"^\s+pip install \. && (ldrx .*)$", README.read_text(), flags=re.M)
    assert first, "the README's first command is not `pip install . && ldrx ...`"
    args = build_parser().parse_args(shlex.split(first.group(1))[1:])
    assert args.command == "bench" and args.out
    cfg = load_config(args.config)                  # a bundled name or a path: resolves and validates
    assert len(cfg.sizes) >= 3 and len(cfg.models) >= 5
