"""`lup`: register lineage, upload members, filter data by consent, manage targets and follow
erasure requests from a shell, a CI job or a pipeline step.

Exit codes scripts can rely on:
  0  done
  1  refused: the API answered 4xx (its stable code is printed), a local check of a target
     config failed, or a bundle failed verification
  2  usage: bad arguments, or an input file that cannot be read as asked (nothing was sent)
  3  the service cannot be reached
  4  the service failed (5xx)

Settings: --url/--token, else LUP_URL / LUP_TOKEN, else the config file (LUP_CONFIG, default
~/.config/lup/config.toml, with `url = "..."` and `token = "..."`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from lup import __version__
from lup.client import ALLOWED, FILTER_BATCH, ApiError, Lup, LupError, Unreachable
from lup.settings import SettingsError
from lup.tables import FORMATS, InputError, Reader, Writer, format_of

OK, REFUSED, USAGE, UNREACHABLE, FAILED = 0, 1, 2, 3, 4


class Usage(Exception):
    pass


class Refused(Exception):
    pass


# --- output -------------------------------------------------------------------------------


def _emit(args, data: Any, text: str | None = None) -> None:
    if args.json or text is None:
        json.dump(data, sys.stdout, indent=None if args.json else 2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text + "\n")


def _note(message: str) -> None:
    print(message, file=sys.stderr)


class Bar:
    """A progress bar on standard error, drawn only on a terminal or when asked (--progress)."""

    def __init__(self, args, label: str, unit: str = ""):
        self.on = args.progress or (args.progress is None and sys.stderr.isatty())
        self.label, self.unit = label, unit
        self.last = 0.0

    def __call__(self, done: int, total: int | None = None) -> None:
        if not self.on:
            return
        now = time.monotonic()
        if now - self.last < 0.1 and (total is None or done < total):
            return
        self.last = now
        if total:
            filled = int(30 * done / total)
            bar = "#" * filled + "-" * (30 - filled)
            sys.stderr.write(f"\r{self.label} [{bar}] {100 * done // total:3d}% {self._n(done)}")
        else:
            sys.stderr.write(f"\r{self.label} {self._n(done)}")
        sys.stderr.flush()

    def _n(self, n: int) -> str:
        if self.unit == "B":
            return f"{n / 1e6:.1f} MB"
        return f"{n:,} {self.unit}".rstrip()

    def done(self) -> None:
        if self.on and self.last:
            sys.stderr.write("\n")


def _client(args) -> Lup:
    try:
        return Lup(url=args.url, token=args.token)
    except SettingsError as exc:
        raise Usage(str(exc)) from None


def _read_text(name: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        raise Usage(f"{name}: {exc.strerror}") from None


def _read_json(name: str) -> Any:
    try:
        return json.loads(_read_text(name))
    except ValueError as exc:
        raise Usage(f"{name}: not JSON ({exc})") from None


# --- commands -----------------------------------------------------------------------------


def manifest_register(args) -> None:
    added = _client(args).manifest_register(_read_text(args.manifest))
    summary = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in added.items())
    _emit(args, {"added": added}, f"{args.manifest}: registered; added {summary}.")


def lineage_show(args) -> None:
    graph = _client(args).lineage(args.node, depth=args.depth)
    lines = [f"{node.get('id')}" for node in graph.get("graph", [])]
    _emit(args, graph, "\n".join(lines) if not args.full else None)


def members_upload(args) -> None:
    fmt = format_of(args.file, args.format)
    reader = Reader(args.file, fmt, args.column, FILTER_BATCH)
    bar = Bar(args, "upload", "B")

    with reader.batches() as batches:

        def values():
            for batch in batches:
                yield from batch.values

        result = _client(args).members_upload(
            args.version, values(), id_type=args.id_type, progress=bar
        )
    bar.done()
    _emit(args, result, f"version {result['version_id']}: {result['members']:,} members.")


def consent_filter(args) -> None:
    fmt = format_of(args.input, args.format)
    reader = Reader(args.input, fmt, args.column, args.batch)
    client = _client(args)
    bar = Bar(args, "filter", "rows")
    kept = read = 0
    why: Counter = Counter()
    with reader.batches() as batches, Writer(args.output, reader).open() as writer:
        for batch in batches:
            decisions = list(
                client.consent_decide(
                    batch.values,
                    purpose=args.purpose,
                    id_type=args.id_type,
                    batch=len(batch.values),
                )
            )
            keep = [d == ALLOWED for d in decisions]
            why.update(d for d in decisions if d != ALLOWED)
            writer.write(batch, keep)
            read += len(keep)
            kept += sum(keep)
            bar(read, reader.total_rows)
        writer.finish_empty()
    bar.done()
    summary = {"rows": read, "kept": kept, "dropped": read - kept, "reasons": dict(why)}
    # The summary goes to standard error (standard output may be the data); it holds counts
    # only, never an identifier.
    if args.json:
        print(json.dumps(summary), file=sys.stderr)
    else:
        reasons = ", ".join(f"{n:,} {reason}" for reason, n in why.most_common()) or "none"
        _note(f"{read:,} rows: kept {kept:,}, dropped {read - kept:,} ({reasons}).")


def _target_schema(client: Lup, kind: str) -> dict | None:
    """The kind's config JSON Schema when the service publishes one; None when it does not."""
    try:
        return client.target_schema(kind)
    except ApiError:
        return None


def _target_check_local(client: Lup, body: dict) -> list[str]:
    schema = _target_schema(client, str(body.get("kind", "")))
    if schema is None:
        return []
    try:
        import jsonschema
    except ImportError:
        return []
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"config{''.join(f'[{p!r}]' for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(body.get("config"))
    ]


def targets_register(args) -> None:
    body = _read_json(args.file)
    if not isinstance(body, dict):
        raise Usage(f"{args.file}: a target is a JSON object (name, kind, config, country).")
    client = _client(args)
    problems = _target_check_local(client, body)
    if problems:
        raise Refused("invalid_config (checked locally, nothing sent):\n  " + "\n  ".join(problems))
    target = client.target_register(**body)
    _emit(args, target, f"target {target['id']} {target['name']}: {target['state']}.")


def targets_check(args) -> None:
    body = _read_json(args.file)
    if not isinstance(body, dict):
        raise Usage(f"{args.file}: a target is a JSON object (name, kind, config, country).")
    client = _client(args)
    if _target_schema(client, str(body.get("kind", ""))) is None:
        raise Refused(
            "The service publishes no config schema for this kind; `lup targets register` "
            "shows the server's check."
        )
    problems = _target_check_local(client, body)
    if problems:
        raise Refused("invalid_config:\n  " + "\n  ".join(problems))
    _emit(args, {"valid": True}, f"{args.file}: the config matches the kind's schema.")


def targets_list(args) -> None:
    targets = _client(args).targets()
    lines = [f"{t['id']:>5}  {t['state']:<9} {t['kind']:<18} {t['name']}" for t in targets]
    _emit(args, targets, "\n".join(lines) or "no targets")


def targets_retire(args) -> None:
    target = _client(args).target_retire(args.id, reason=args.reason)
    _emit(args, target, f"target {target['id']} {target['name']}: {target['state']}.")


INDEX_ENDED = {"done", "failed"}


def targets_index(args) -> None:
    """Start a build of the target's subject index; with --wait, follow it to its end, the
    records read so far on the progress line (a scan's size is not known ahead)."""
    client = _client(args)
    schedule = {} if args.every_minutes is None else {"every_minutes": args.every_minutes or None}
    status = client.target_index(args.id, **schedule)
    if args.wait:
        deadline = time.monotonic() + args.timeout
        bar = Bar(args, "scan", "records")
        while status["state"] not in INDEX_ENDED and time.monotonic() < deadline:
            time.sleep(min(args.interval, max(0.0, deadline - time.monotonic())))
            status = client.target_index_status(args.id)
            bar(status["records"], None)
        bar.done()
    text = f"target {status['target']} index: {status['state']}"
    if status["state"] == "done":
        text += f", {status['subjects']} subjects, membership of {status['versions']} versions"
    _emit(args, status, text + ".")
    if status["state"] == "failed":
        raise Refused(f"index_failed: {status['error_code']}")
    if args.wait and status["state"] not in INDEX_ENDED:
        raise Refused(f"still {status['state']} after {args.timeout:g} s")


def erasure_file(args) -> None:
    identifiers = [_identifier(text) for text in args.identifier]
    if (args.verified is None) != (args.reason is None):
        raise Usage("--verified METHOD and --reason TEXT go together")
    verified = None if args.verified is None else {"method": args.verified, "reason": args.reason}
    filed = _client(args).erasure_file(
        identifiers,
        country=args.country or "",
        idempotency_key=args.idempotency_key,
        verified=verified,
        plan=args.plan,
    )
    _emit(args, filed, f"request {filed['id']}: {filed['state']}.")


def _identifier(text: str) -> dict[str, str]:
    id_type, sep, value = text.partition(":")
    if not sep or not id_type or not value:
        raise Usage("--identifier is TYPE:VALUE, e.g. email:sokha@example.org")
    return {"id_type": id_type, "value": value}


# A request in one of these states changes no more (erasure.models.CLOSED_STATES).
CLOSED = frozenset({"completed", "partially_completed", "denied", "failed"})


def erasure_status(args) -> int | None:
    client = _client(args)
    status = client.erasure_status(args.request)
    if args.wait:
        deadline = time.monotonic() + args.timeout
        while status["state"] not in CLOSED and time.monotonic() < deadline:
            time.sleep(min(args.interval, max(0.0, deadline - time.monotonic())))
            status = client.erasure_status(args.request)
    _emit(
        args, status, f"request {status['id']}: {status['state']}, deadline {status['deadline']}."
    )
    if args.wait and status["state"] not in CLOSED:
        raise Refused(f"still {status['state']} after {args.timeout:g} s")
    return None


def erasure_bundle(args) -> None:
    bundle = _client(args).erasure_bundle(args.request)
    text = json.dumps(bundle, ensure_ascii=False)
    if args.output and args.output != "-":
        Path(args.output).write_text(text + "\n", "utf-8")
        _note(f"bundle of {len(bundle.get('receipts', []))} receipts written to {args.output}")
    else:
        sys.stdout.write(text + "\n")


def verify_bundle(args) -> int:
    """The offline verifier (`ledger/verify.py`, standard library, cryptography and rfc8785)."""
    from ledger import verify

    key = args.key
    if key is None:
        # Without a pinned key the service's current key is fetched: a check of the bundle's
        # integrity, not of who made it. Pin the key (--key) to check that too.
        key = _client(args).verifier_key()
        _note("verify: using the service's current key; pin it with --key for an offline check")
    argv = ["bundle", args.file, "--key", key]
    if args.identifier:
        argv += ["--identifier", args.identifier]
    code = verify.main(argv)
    return REFUSED if code == 1 else code


# --- the parser ---------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="the service (default LUP_URL, then the config file)")
    common.add_argument("--token", help="an API token (default LUP_TOKEN, then the config file)")
    common.add_argument("--json", action="store_true", help="answer in JSON")
    progress = common.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress", action="store_true", default=None, help="draw progress on stderr"
    )
    progress.add_argument("--no-progress", dest="progress", action="store_false")

    top = argparse.ArgumentParser(
        prog="lup",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"lup {__version__}")
    groups = top.add_subparsers(dest="group", required=True, metavar="COMMAND")

    def command(sub, name: str, func, help: str) -> argparse.ArgumentParser:
        found = sub.add_parser(name, parents=[common], help=help, description=help)
        found.set_defaults(func=func)
        return found

    datasets = groups.add_parser("datasets", help="register datasets").add_subparsers(
        dest="action", required=True
    )
    for sub, what in ((datasets, "datasets"),):
        register = command(
            sub,
            "register",
            manifest_register,
            f"register the {what} (and everything else) of a lineage manifest, all or nothing",
        )
        register.add_argument("manifest", help="YAML or JSON manifest file, or - for stdin")
    versions = groups.add_parser("versions", help="register dataset versions").add_subparsers(
        dest="action", required=True
    )
    register = command(
        versions,
        "register",
        manifest_register,
        "register the versions (and everything else) of a lineage manifest, all or nothing",
    )
    register.add_argument("manifest", help="YAML or JSON manifest file, or - for stdin")

    lineage = groups.add_parser("lineage", help="read the lineage graph").add_subparsers(
        dest="action", required=True
    )
    show = command(lineage, "show", lineage_show, "the graph around a node")
    show.add_argument("node", help="dataset:<namespace>:<name>, job:… or model:…")
    show.add_argument("--depth", type=int, default=20)
    show.add_argument("--full", action="store_true", help="the whole answer, not node ids")

    members = groups.add_parser("members", help="subject membership").add_subparsers(
        dest="action", required=True
    )
    upload = command(
        members, "upload", members_upload, "upload who is in a version, from a file's column"
    )
    upload.add_argument("version", help="the dataset version's id")
    upload.add_argument("file", help="CSV, JSON Lines or Parquet file, or - for stdin")
    upload.add_argument("--column", required=True, help="the identifier column (JSONL: a.b)")
    upload.add_argument("--id-type", default="email", help="email, phone, … or key")
    upload.add_argument("--format", choices=FORMATS)

    consent = groups.add_parser("consent", help="consent").add_subparsers(
        dest="action", required=True
    )
    filtering = command(
        consent, "filter", consent_filter, "keep only the rows whose subject may be used"
    )
    filtering.add_argument("input", help="CSV, JSON Lines or Parquet file, or -")
    filtering.add_argument("output", help="where the kept rows go, in the same format, or -")
    filtering.add_argument("--purpose", required=True, help="e.g. train_ai_system.fine_tuning")
    filtering.add_argument("--column", required=True, help="the identifier column (JSONL: a.b)")
    filtering.add_argument("--id-type", default="email", help="email, phone, … or key")
    filtering.add_argument("--format", choices=FORMATS)
    filtering.add_argument("--batch", type=int, default=FILTER_BATCH, help="rows a call")

    targets = groups.add_parser("targets", help="erasure targets").add_subparsers(
        dest="action", required=True
    )
    register = command(targets, "register", targets_register, "register a target (JSON file)")
    register.add_argument("file", help='{"name", "kind", "config", "country", …} or -')
    check = command(targets, "check", targets_check, "check a target's config locally")
    check.add_argument("file", help='{"name", "kind", "config", "country", …} or -')
    command(targets, "list", targets_list, "the registered targets")
    index = command(targets, "index", targets_index, "build a target's subject index by scanning")
    index.add_argument("id", type=int)
    index.add_argument(
        "--every-minutes", type=int, metavar="N", help="also rebuild every N minutes (0: stop)"
    )
    index.add_argument("--wait", action="store_true", help="follow the build to its end")
    index.add_argument("--timeout", type=float, default=600.0, help="seconds to wait at most")
    index.add_argument("--interval", type=float, default=1.0, help="seconds between looks")
    retire = command(targets, "retire", targets_retire, "retire a target (never planned again)")
    retire.add_argument("id", type=int)
    retire.add_argument("--reason", required=True)

    erasure = groups.add_parser("erasure", help="erasure requests").add_subparsers(
        dest="action", required=True
    )
    filing = command(erasure, "file", erasure_file, "file an erasure request")
    filing.add_argument(
        "--identifier", action="append", required=True, help="TYPE:VALUE (repeatable)"
    )
    filing.add_argument("--country", help="the subject's country (ISO 3166-1 alpha-2)")
    filing.add_argument("--idempotency-key", help="default: a new one (retries reuse it)")
    filing.add_argument(
        "--verified",
        metavar="METHOD",
        help="the caller verified the subject itself (needs erasure:verify), e.g. support_ticket",
    )
    filing.add_argument("--reason", help="how it was verified, recorded in the trail")
    filing.add_argument(
        "--plan", action="store_true", help="plan it at once (a verified request): it starts, "
        "or waits for someone else's approval",
    )  # fmt: skip
    status = command(erasure, "status", erasure_status, "a request's state")
    status.add_argument("request")
    status.add_argument("--wait", action="store_true", help="until it closes (exit 1 on timeout)")
    status.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits")
    status.add_argument("--interval", type=float, default=2.0, help="seconds between looks")
    bundle = command(erasure, "bundle", erasure_bundle, "a request's receipt bundle (JSON)")
    bundle.add_argument("request")
    bundle.add_argument("-o", "--output", help="file to write (default stdout)")

    verify = groups.add_parser("verify", help="verify offline").add_subparsers(
        dest="action", required=True
    )
    checking = command(verify, "bundle", verify_bundle, "verify a receipt bundle offline")
    checking.add_argument("file")
    checking.add_argument("--key", help="the pinned verifier key, or @FILE (default: fetched)")
    checking.add_argument("--identifier", help="your identifier, to open the commitments")
    return top


def main(argv: list[str] | None = None) -> int:
    top = parser()
    try:
        import argcomplete  # optional: `eval "$(register-python-argcomplete lup)"`

        argcomplete.autocomplete(top)
    except ImportError:
        pass
    args = top.parse_args(argv)
    try:
        code = args.func(args)
    except Usage as exc:
        _note(f"lup: {exc}")
        return USAGE
    except InputError as exc:
        _note(f"lup: {exc}")
        return USAGE
    except Refused as exc:
        _note(f"lup: {exc}")
        return REFUSED
    except ApiError as exc:
        _note(f"lup: {exc.code}: {exc.detail}")
        if exc.fields:
            _note(json.dumps(exc.fields, ensure_ascii=False))
        return REFUSED if exc.status < 500 else FAILED
    except Unreachable as exc:
        _note(f"lup: cannot reach the service: {exc}")
        return UNREACHABLE
    except LupError as exc:
        _note(f"lup: {exc}")
        return USAGE
    except BrokenPipeError:
        return OK
    return OK if code is None else code


if __name__ == "__main__":
    sys.exit(main())
