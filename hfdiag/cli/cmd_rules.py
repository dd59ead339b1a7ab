from pathlib import Path
from typing import Optional

import typer

from hfdiag.cli.app import app
from hfdiag.cli.options import rules_dir_option

rules_app = typer.Typer(help="List, show, test and lint the rules; check their keywords reach every match.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


def _did_you_mean(word: str, choices) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _dir(rules_dir: Optional[Path]) -> Path:
    from hfdiag.engine.data import default_rules_dir

    return rules_dir or default_rules_dir()


@rules_app.command("list")
def rules_list(rules_dir: Optional[Path] = rules_dir_option(), bucket: Optional[str] = typer.Option(None, "--bucket", metavar="BUCKET", help="Only the rules of this bucket (builder, proxy, app, ...).")) -> int:
    """One line per rule: id, bucket, knowledge, title."""
    from hfdiag.engine.knowledge import load_knowledge

    kb = load_knowledge(rules_dir)
    if bucket is not None:
        from hfdiag.engine.data import BUCKETS
        from hfdiag.errors import UsageError

        if bucket not in BUCKETS or bucket == "inconclusive":
            hint = _did_you_mean(bucket, BUCKETS)
            raise UsageError(f"--bucket {bucket!r}: not a rule bucket{hint} (one of {', '.join(b for b in BUCKETS if b != 'inconclusive')})")
    for r in kb.rules:
        if bucket and r.bucket != bucket:
            continue
        typer.echo(f"{r.id}  {r.bucket:<19} {r.knowledge:<11} {r.title}")
    return 0


@rules_app.command("show")
def rules_show(rule_id: str = typer.Argument(..., metavar="ID", help="Rule id, e.g. HFD-BLD-004."), rules_dir: Optional[Path] = rules_dir_option()) -> int:
    """The rule file as written."""
    from hfdiag.engine.knowledge import load_knowledge
    from hfdiag.errors import UsageError

    kb = load_knowledge(rules_dir)
    rule = kb.rules.by_id.get(rule_id.upper())
    if rule is None:
        raise UsageError(f"no rule {rule_id!r} (see `hfdiag rules list`)")
    typer.echo(Path(rule.path).read_text(encoding="utf-8").rstrip())
    return 0


@rules_app.command("test")
def rules_test(rules_dir: Optional[Path] = rules_dir_option()) -> int:
    """Run every rule's, signature's and cue's inline tests."""
    from hfdiag.engine.knowledge import load_knowledge

    kb = load_knowledge(rules_dir)
    failures = kb.test()
    n_sigs = sum(1 for s in kb.signatures.signatures if s.kind != "cue")
    n_tests = (sum(len(r.tests) for r in kb.rules) + sum(len(s.tests) for s in kb.signatures.signatures)
               + sum(len(c.tests) for c in kb.cues.cues))
    for f in failures:
        typer.echo(f"FAIL {f}", err=True)
    typer.echo(f"{n_tests - len(failures)}/{n_tests} inline tests passed "
               f"({len(kb.rules)} rules, {n_sigs} signatures, {len(kb.cues)} cues)")
    return 1 if failures else 0


@rules_app.command("lint")
def rules_lint(rules_dir: Optional[Path] = rules_dir_option()) -> int:
    """Validate every rule, signature, cue, chain and catalog file."""
    from hfdiag.engine.knowledge import KnowledgeBase

    d = _dir(rules_dir)
    if not d.is_dir():
        from hfdiag.errors import UsageError

        raise UsageError(f"{d}: rules directory not found")
    problems = KnowledgeBase.lint(d)
    for p in problems:
        typer.echo(p, err=True)
    typer.echo(f"{len(problems)} {'problem' if len(problems) == 1 else 'problems'} in {d}")
    return 1 if problems else 0


@rules_app.command("coverage")
def rules_coverage(
    rules_dir: Optional[Path] = rules_dir_option(),
    ids: Optional[list[str]] = typer.Option(None, "--id", metavar="ID", help="Only this signature or cue (repeatable)."),
    examples: int = typer.Option(3, "--examples", min=1, max=50, help="Lines shown per signature."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when any signature has such lines."),
) -> int:
    """Lines a signature's or cue's pattern matches that none of its keywords fire on (the scan never sees them).

    Found by expanding each pattern; every line shown is checked both ways. A pattern too large to expand is
    counted as not checked."""
    from hfdiag.engine.keyword_coverage import coverage
    from hfdiag.engine.knowledge import load_knowledge
    from hfdiag.render.sanitize import visible

    sigset = load_knowledge(rules_dir).signatures
    known = {s.id for s in sigset.signatures}
    unknown = [i for i in ids or [] if i not in known]
    if unknown:
        from hfdiag.errors import UsageError

        raise UsageError(f"no signature or cue {unknown[0]!r}{_did_you_mean(unknown[0], known)}")
    results = coverage(sigset, set(ids) if ids else None)
    missing = [r for r in results if r.misses]
    for r in missing:
        shown = ", ".join(repr(visible(line)) for line in r.misses[:examples])
        more = f" (+{len(r.misses) - examples} more)" if len(r.misses) > examples else ""
        typer.echo(f"{r.signature_id}: {shown}{more}")
    unchecked = sum(1 for r in results if r.misses is None)
    typer.echo(f"{len(missing)} of {len(results)} with lines their keywords miss; {unchecked} not checked "
               "(too many forms to expand)")
    return 1 if strict and missing else 0
