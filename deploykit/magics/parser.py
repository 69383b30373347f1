"""The grammar of ``%deploy SUBCOMMAND ...``: one argparse subparser per subcommand.

argparse prints and calls ``sys.exit`` on a bad line, which would kill a notebook
cell with a SystemExit traceback. Here every parse problem becomes IPython's
:class:`UsageError`: one line, the subcommand's usage, no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
from typing import NoReturn

from IPython.core.error import UsageError

__all__ = ["SUBCOMMANDS", "Command", "Subcommand", "parse"]


@dataclasses.dataclass(frozen=True)
class Subcommand:
    """One ``%deploy`` subcommand: its usage line, what it does, and an example."""

    name: str
    usage: str
    summary: str
    example: str


SUBCOMMANDS: dict[str, Subcommand] = {
    s.name: s
    for s in (
        Subcommand(
            "evaluate",
            "evaluate MODEL X y [--cv K] [--name NAME]",
            "metrics beside a dummy baseline and the live version; remembered for the next push",
            "%deploy evaluate model X_test y_test --name churn",
        ),
        Subcommand(
            "push",
            "push MODEL --name NAME [--data X_TRAIN] [--format joblib|skops] [--gate RULES] "
            "[--nullable COL,COL] "
            "[--deploy] [--description TEXT] [--card DICT] [--keep-source]",
            "store a new immutable version; --deploy moves production if the gate passes",
            '%deploy push model --name churn --data X_train --gate "roc_auc>=0.9" --deploy',
        ),
        Subcommand(
            "card",
            "card NAME [VERSION] [--diff VERSION] [--revision N]",
            "the model card of a version (production by default), or what changed to another",
            "%deploy card churn 3 --diff 4",
        ),
        Subcommand(
            "versions",
            "versions NAME",
            "every version with its metrics, gate and live marker",
            "%deploy versions churn",
        ),
        Subcommand(
            "deploy",
            "deploy NAME VERSION [--alias ALIAS] [--reason TEXT]",
            "point an alias (production by default) at a version",
            "%deploy deploy churn 2",
        ),
        Subcommand(
            "rollback",
            "rollback NAME [--to VERSION] [--alias ALIAS] [--reason TEXT]",
            "move production back to the version it held before",
            '%deploy rollback churn --reason "recall dropped"',
        ),
        Subcommand(
            "shadow",
            "shadow NAME VERSION [--share F] [--reason TEXT]",
            "score production's requests with VERSION too; callers get production's answer",
            "%deploy shadow churn 4",
        ),
        Subcommand(
            "canary",
            "canary NAME VERSION [--percent P] [--sticky COLUMN] [--promote-when RULES] "
            "[--min-requests N] [--max-duration SECONDS] [--reason TEXT]",
            "let VERSION answer a share of requests; promoted on evidence with --promote-when",
            '%deploy canary churn 4 --percent 10 --promote-when "accuracy>=production-0.01"',
        ),
        Subcommand(
            "step",
            "step NAME PERCENT [--reason TEXT]",
            "change the running experiment's share",
            "%deploy step churn 25",
        ),
        Subcommand(
            "promote",
            "promote NAME --reason TEXT",
            "end the experiment and move production to its candidate",
            '%deploy promote churn --reason "agreement 99%, no errors"',
        ),
        Subcommand(
            "abort",
            "abort NAME --reason TEXT",
            "end the experiment; all traffic back to production",
            '%deploy abort churn --reason "disagrees on young customers"',
        ),
        Subcommand(
            "experiment",
            "experiment NAME [--widget]",
            "the running (else last) experiment; --widget gives a split slider and buttons",
            "%deploy experiment churn --widget",
        ),
        Subcommand(
            "compare",
            "compare NAME [A] [B] [--since TIME] [--data DATAFRAME]",
            "how two versions differ: agreement, cross-table, where they disagree, deltas",
            "%deploy compare churn 3 4",
        ),
        Subcommand(
            "predict",
            "predict NAME DATA [--version VERSION] [--proba]",
            "predictions of the live version for a DataFrame or array variable",
            "%deploy predict churn X_test",
        ),
        Subcommand(
            "status",
            "status [NAME]",
            "live version, requests/s, p95 latency, error rate, drift",
            "%deploy status churn",
        ),
        Subcommand(
            "estimated",
            "estimated NAME [--version V] [--since 24h] [--step 1h]",
            "metrics estimated from logged scores before labels arrive, with a band",
            "%deploy estimated churn --since 24h --step 1h",
        ),
        Subcommand(
            "models",
            "models",
            "every model with its latest and live version",
            "%deploy models",
        ),
        Subcommand(
            "events",
            "events [NAME] [--limit N]",
            "the audit log: who pushed, deployed or rolled back what, when and why",
            "%deploy events churn",
        ),
        Subcommand(
            "target",
            "target [URL|embedded] [--token-env VAR]",
            "show or set where commands go: the embedded registry or a deploykit server",
            "%deploy target http://127.0.0.1:8765 --token-env DEPLOYKIT_TOKEN",
        ),
        Subcommand(
            "panel",
            "panel [NAME]",
            "a panel of widgets to evaluate, push and deploy",
            "%deploy panel churn",
        ),
        Subcommand(
            "console",
            "console",
            "a link to the team console",
            "%deploy console",
        ),
        Subcommand(
            "help",
            "help [SUBCOMMAND]",
            "this list, or one subcommand's usage",
            "%deploy help push",
        ),
    )
}


@dataclasses.dataclass(frozen=True)
class Command:
    """A parsed ``%deploy`` line: the subcommand and its arguments."""

    name: str
    args: argparse.Namespace


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises UsageError instead of printing and exiting."""

    def error(self, message: str) -> NoReturn:
        spec = SUBCOMMANDS[self.prog]
        raise UsageError(f"%deploy {spec.name}: {message}. Usage: %deploy {spec.usage}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or f"%deploy {self.prog}: cannot parse the line")


def _digits(text: str) -> bool:
    # isascii: str.isdigit() accepts digits such as '²' that int() refuses
    return text.isascii() and text.isdigit()


def _version(text: str) -> int | str:
    """A version reference: a number, 'latest' or an alias name."""
    return int(text) if _digits(text) else text


def _positive_int(text: str) -> int:
    if not _digits(text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _folds(text: str) -> int:
    if not _digits(text) or int(text) < 2:
        raise argparse.ArgumentTypeError(f"expected a number of folds >= 2, got {text!r}")
    return int(text)


def _version_number(text: str) -> int:
    if not _digits(text):
        raise argparse.ArgumentTypeError(f"expected a version number such as 3, got {text!r}")
    return int(text)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 10, got {text!r}") from None


def _share(text: str) -> float:
    value = _number(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text!r}")
    return value


def _count(text: str) -> int:
    if not _digits(text):
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _build(name: str) -> _Parser:
    p = _Parser(prog=name, add_help=False, allow_abbrev=False)
    if name == "evaluate":
        p.add_argument("model")
        p.add_argument("X")
        p.add_argument("y")
        p.add_argument("--cv", type=_folds, default=None)
        p.add_argument("--name", default=None)
    elif name == "push":
        p.add_argument("model")
        p.add_argument("--name", required=True)
        p.add_argument("--data", default=None)
        p.add_argument("--format", choices=("joblib", "skops"), default="joblib")
        p.add_argument("--gate", default=None)
        p.add_argument("--deploy", action="store_true")
        p.add_argument("--description", default="")
        p.add_argument("--nullable", type=_names, default=None)
        p.add_argument("--card", default=None)
        p.add_argument("--keep-source", dest="keep_source", action="store_true")
    elif name == "card":
        p.add_argument("name")
        p.add_argument("version", type=_version, nargs="?", default="production")
        p.add_argument("--diff", type=_version, default=None)
        p.add_argument("--revision", type=_positive_int, default=None)
    elif name == "versions":
        p.add_argument("name")
    elif name == "deploy":
        p.add_argument("name")
        p.add_argument("version", type=_version)
        p.add_argument("--alias", default="production")
        p.add_argument("--reason", default=None)
    elif name == "rollback":
        p.add_argument("name")
        p.add_argument("--to", type=_version_number, default=None)
        p.add_argument("--alias", default="production")
        p.add_argument("--reason", default=None)
    elif name == "predict":
        p.add_argument("name")
        p.add_argument("data")
        p.add_argument("--version", type=_version, default=None)
        p.add_argument("--proba", action="store_true")
    elif name == "shadow":
        p.add_argument("name")
        p.add_argument("version", type=_version)
        p.add_argument("--share", type=_share, default=1.0)
        p.add_argument("--reason", default=None)
    elif name == "canary":
        p.add_argument("name")
        p.add_argument("version", type=_version)
        p.add_argument("--percent", type=_number, default=10.0)
        p.add_argument("--sticky", default=None)
        p.add_argument("--promote-when", dest="promote_when", default=None)
        p.add_argument("--min-requests", dest="min_requests", type=_count, default=1000)
        p.add_argument("--max-duration", dest="max_duration", type=_number, default=None)
        p.add_argument("--reason", default=None)
    elif name == "step":
        p.add_argument("name")
        p.add_argument("percent", type=_number)
        p.add_argument("--reason", default=None)
    elif name in ("promote", "abort"):
        p.add_argument("name")
        p.add_argument("--reason", required=True)
    elif name == "experiment":
        p.add_argument("name")
        p.add_argument("--widget", action="store_true")
    elif name == "compare":
        p.add_argument("name")
        p.add_argument("a", nargs="?", type=_version, default="production")
        p.add_argument("b", nargs="?", type=_version, default="candidate")
        p.add_argument("--since", default=None)
        p.add_argument("--data", default=None)
    elif name == "status":
        p.add_argument("name", nargs="?", default=None)
    elif name == "estimated":
        p.add_argument("name")
        p.add_argument("--version", type=_version_number, default=None)
        p.add_argument("--since", default="24h")  # durations: checked by the action
        p.add_argument("--step", default=None)
    elif name == "events":
        p.add_argument("name", nargs="?", default=None)
        p.add_argument("--limit", type=_positive_int, default=20)
    elif name == "target":
        p.add_argument("url", nargs="?", default=None)
        p.add_argument("--token-env", dest="token_env", default=None)
    elif name == "panel":
        p.add_argument("name", nargs="?", default=None)
    elif name == "help":
        p.add_argument("topic", nargs="?", default=None)
    # models, console: no arguments
    return p


def parse(line: str) -> Command:
    """Parse the text after ``%deploy``; an empty line or ``-h`` means help."""
    try:
        words = split_words(line)
    except ValueError as exc:  # "No closing quotation"
        raise UsageError(f"%deploy: cannot split the line into words: {exc}.") from None
    if not words or words[0] in ("-h", "--help"):
        return Command("help", argparse.Namespace(topic=None))
    name, rest = words[0], words[1:]
    if name not in SUBCOMMANDS:
        close = difflib.get_close_matches(name, SUBCOMMANDS, n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UsageError(
            f"Unknown %deploy subcommand '{name}'{hint}. Run %deploy help for the list."
        )
    if "-h" in rest or "--help" in rest:
        return Command("help", argparse.Namespace(topic=name))
    args = _build(name).parse_args(rest)
    if name == "help" and args.topic is not None and args.topic not in SUBCOMMANDS:
        close = difflib.get_close_matches(args.topic, SUBCOMMANDS, n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UsageError(f"No %deploy subcommand '{args.topic}'{hint}. Run %deploy help.")
    return Command(name, args)


_OPENING, _CLOSING = "([{", ")]}"


def split_words(line: str) -> list[str]:
    """Split like a shell, except that Python expressions stay whole.

    ``X_test.iloc[:, :5]`` or ``df.drop(columns=["a b"])`` is one word: whitespace and
    quotes inside brackets belong to the expression (kept verbatim, for ``eval``), while
    quotes outside brackets group words and are removed, as in ``--reason "too slow"``.
    A ``#`` starting a word outside quotes and brackets begins a comment, ignored.
    """
    words: list[str] = []
    word: list[str] = []
    started = False  # a word has begun (so "" yields an empty word)
    depth = 0
    quote: str | None = None
    for char in line:
        if quote is not None:
            if char == quote:
                quote = None
                if depth:
                    word.append(char)
            else:
                word.append(char)
        elif char in "'\"":
            quote, started = char, True
            if depth:
                word.append(char)
        elif char == "#" and not depth and not started:
            break  # a comment, as in a shell: "%deploy push m --name churn  # v2"
        elif char in _OPENING:
            depth, started = depth + 1, True
            word.append(char)
        elif char in _CLOSING and depth:
            depth -= 1
            word.append(char)
        elif char.isspace() and not depth:
            if started:
                words.append("".join(word))
                word, started = [], False
        else:
            word.append(char)
            started = True
    if quote is not None:
        raise ValueError("No closing quotation")
    if depth:
        raise ValueError(f"unbalanced brackets in {line.strip()!r}")
    if started:
        words.append("".join(word))
    return words
