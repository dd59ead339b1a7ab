"""`hfdiag preflight [PATH]`: offline checks of a Space repo checkout, rendered like check findings."""

from pathlib import Path
from typing import Optional

import typer

from hfdiag.cli.app import app
from hfdiag.cli.options import fail_on_option, format_option, markdown_flavor_option, rules_dir_option, verbose_option


@app.command("preflight")
def preflight_cmd(
    path: Path = typer.Argument(Path("."), metavar="PATH", help="The Space repo checkout (default: the current directory)."),
    fmt: str = format_option(),
    markdown_flavor: Optional[str] = markdown_flavor_option(),
    fail_on: str = fail_on_option(),
    zerogpu: Optional[bool] = typer.Option(None, "--zerogpu/--no-zerogpu",
                                           help="The Space runs on ZeroGPU (default: detected from suggested_hardware or @spaces.GPU)."),
    rules_dir: Optional[Path] = rules_dir_option(),
    verbose: bool = verbose_option(),
) -> int:
    """Catch what would fail a Space before the push: front matter, ZeroGPU pins, git deps, file sizes. Offline."""
    from hfdiag.cli.emit import emit
    from hfdiag.cli.validate import output_settings
    from hfdiag.engine.knowledge import load_knowledge
    from hfdiag.environment import Environment
    from hfdiag.outcome import exit_status
    from hfdiag.preflight import preflight_report

    threshold = output_settings(fmt, markdown_flavor, fail_on)
    env = Environment()
    kb = load_knowledge(rules_dir)
    report = preflight_report(path, kb, zerogpu)
    emit(report, env, fmt, markdown_flavor=markdown_flavor, verbose=verbose)
    return int(exit_status(report, threshold))
