"""The ``loss-lsp`` command: ``check`` files, ``serve`` the language server, show a ``rule``."""

from __future__ import annotations

import argparse
import sys

from loss_lsp import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loss-lsp", description=__doc__)
    parser.add_argument("--version", action="version", version=f"loss-lsp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="check files or folders for broken custom losses")
    check.add_argument("paths", nargs="+", help="Python files or folders")
    check.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    check.add_argument("--fix", action="store_true", help="apply safe fixes in place")
    check.add_argument("--unsafe-fixes", action="store_true", help="with --fix, apply unsafe fixes too")
    check.add_argument("--statistics", action="store_true", help="count findings per rule")
    check.add_argument("--select", default="", help="comma-separated rule codes or prefixes to enable")
    check.add_argument("--ignore", default="", help="comma-separated rule codes or prefixes to disable")
    check.add_argument("--gradients", action="store_true",
                       help="confirm each finding with a TensorFlow gradient check (runs the losses' code)")
    check.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default)")
    serve.add_argument("--tcp", action="store_true", help="listen on a TCP port instead")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=2087)
    serve.add_argument("--log-file", default=None, help="also write the server's log to this file")

    rule = sub.add_parser("rule", help="explain a rule")
    rule.add_argument("code", nargs="?", help="a rule code such as LL201; none lists all rules")

    docs = sub.add_parser("docs", help="write the rule pages generated from the rule metadata")
    docs.add_argument("--check", action="store_true", help="exit 1 if the pages are out of date")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        return _run(args)
    except BrokenPipeError:  # `loss-lsp check . | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    if args.command == "check":
        from loss_lsp.cli.check import run_check

        return run_check(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "rule":
        from loss_lsp.cli.rules import show_rule

        return show_rule(args.code)
    from loss_lsp.rules.docs import write_docs

    return write_docs(check_only=args.check)


def _serve(args: argparse.Namespace) -> int:
    try:
        from loss_lsp.server import serve
    except ImportError as exc:
        print(f"loss-lsp: the language server is not available in this installation ({exc})", file=sys.stderr)
        return 2
    serve("tcp" if args.tcp else "stdio", args.host, args.port, args.log_file)
    return 0
