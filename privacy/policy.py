"""Policy as code: what each purpose may do with each entity type.

YAML shape (see ``privacy/policies/default.yaml``)::

    version: 1
    purposes:
      credit_scoring:            # purpose name: [a-z][a-z0-9_]*
        short: credit            # prefix of its minimised tables: minimised.credit_<table>
        description: ...
    rules:
      <entity type>:
        <purpose>: drop | keep | pseudonymise | tokenise
        <purpose>: {action: generalise, generaliser: <name>}
    landing:                     # optional
      retention: archive         # archive (default) | keep
    credit:                      # optional
      protected: [gender, age_band]   # columns of minimised.credit_users (the default)

``landing.retention``: ``archive`` moves every landed file, once its rows are in the ledger, into
the encrypted archive (``archive/``, AES-256-GCM) and removes the plaintext copy, so erasure can
reach every copy (:mod:`privacy.archive`); ``keep`` leaves landing files where they are.

``credit.protected``: the protected attributes of credit scoring, columns of the credit purpose's
users table: never model features, reported for proxies, judged for fairness on holdout rows.

Actions: ``drop``; ``keep``; ``pseudonymise`` (HMAC-SHA256 under the purpose's key);
``tokenise`` (reversible AES-SIV, audited detokenisation); ``generalise`` with a named
generaliser from :mod:`privacy.generalisers`. Default deny: an entity type without a rule for a
purpose is dropped, and the decision says so.

Loading validates everything and raises :class:`PolicyError` naming the file and line: unknown
entity type, purpose, action or generaliser, a generaliser that does not apply to the entity, a
missing or duplicate key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from privacy.entities import ENTITY_TYPES
from privacy.generalisers import GENERALISERS
from privacy.register import ERASURE_PURPOSE

__all__ = [
    "ACTIONS",
    "DEFAULT_POLICY_PATH",
    "Decision",
    "Policy",
    "PolicyError",
    "Purpose",
    "Rule",
    "load_policy",
    "parse_policy",
]

Action = Literal["drop", "keep", "pseudonymise", "tokenise", "generalise"]
ACTIONS: tuple[str, ...] = ("drop", "keep", "pseudonymise", "tokenise", "generalise")
DEFAULT_POLICY_PATH = Path(__file__).with_name("policies") / "default.yaml"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class PolicyError(ValueError):
    """A policy file is invalid; the message starts with ``file:line:``."""


@dataclass(frozen=True)
class Purpose:
    name: str
    short: str
    description: str = ""
    line: int = 0


@dataclass(frozen=True)
class Rule:
    entity: str
    purpose: str
    action: str
    generaliser: str | None = None
    line: int = 0


@dataclass(frozen=True)
class Decision:
    entity: str
    purpose: str
    action: str
    generaliser: str | None
    default_deny: bool
    reason: str


RETENTIONS = ("archive", "keep")
DEFAULT_PROTECTED = ("gender", "age_band")
_COLUMN_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass
class Policy:
    source: str
    purposes: dict[str, Purpose]
    rules: dict[tuple[str, str], Rule] = field(default_factory=dict)
    landing_retention: str = "archive"
    credit_protected: tuple[str, ...] = DEFAULT_PROTECTED

    def decide(self, entity: str, purpose: str) -> Decision:
        if purpose not in self.purposes:
            raise KeyError(f"purpose {purpose!r} is not declared in {self.source}")
        rule = self.rules.get((entity, purpose))
        if rule is None:
            return Decision(
                entity,
                purpose,
                "drop",
                None,
                True,
                f"default deny: no rule for entity {entity!r} under purpose {purpose!r}",
            )
        how = f"generalise:{rule.generaliser}" if rule.generaliser else rule.action
        return Decision(
            entity,
            purpose,
            rule.action,
            rule.generaliser,
            False,
            f"{self.source}:{rule.line}: {entity} x {purpose} -> {how}",
        )

    def short(self, purpose: str) -> str:
        return self.purposes[purpose].short


def _where(source: str, node: Node) -> str:
    return f"{source}:{node.start_mark.line + 1}"


def _scalar(source: str, node: Node, what: str) -> str:
    if not isinstance(node, ScalarNode):
        raise PolicyError(f"{_where(source, node)}: {what} must be a scalar")
    return str(node.value)


def _mapping(source: str, node: Node, what: str) -> list[tuple[Node, Node]]:
    if not isinstance(node, MappingNode):
        raise PolicyError(f"{_where(source, node)}: {what} must be a mapping")
    seen: set[str] = set()
    for k, _v in node.value:
        key = _scalar(source, k, f"a key of {what}")
        if key in seen:
            raise PolicyError(f"{_where(source, k)}: duplicate key {key!r} in {what}")
        seen.add(key)
    return list(node.value)


def parse_policy(text: str, source: str = "<string>") -> Policy:
    """Parse and validate a policy document; errors name ``source`` and the line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}" if mark is not None else "?"
        raise PolicyError(f"{source}:{line}: invalid YAML: {exc}") from None
    if root is None:
        raise PolicyError(f"{source}:1: empty policy")
    top = dict((_scalar(source, k, "key"), (k, v)) for k, v in _mapping(source, root, "policy"))
    for key, (knode, _) in top.items():
        if key not in ("version", "purposes", "rules", "landing", "credit"):
            raise PolicyError(
                f"{_where(source, knode)}: unknown top-level key {key!r} "
                "(expected version, purposes, rules, landing, credit)"
            )
    if "version" in top:
        version = _scalar(source, top["version"][1], "version")
        if version != "1":
            raise PolicyError(f"{_where(source, top['version'][1])}: unsupported version {version}")
    if "purposes" not in top:
        raise PolicyError(f"{_where(source, root)}: missing 'purposes'")
    if "rules" not in top:
        raise PolicyError(f"{_where(source, root)}: missing 'rules'")

    purposes: dict[str, Purpose] = {}
    shorts: dict[str, str] = {}
    for pk, pv in _mapping(source, top["purposes"][1], "purposes"):
        name = _scalar(source, pk, "purpose name")
        if not _NAME.match(name) or name == ERASURE_PURPOSE:
            raise PolicyError(
                f"{_where(source, pk)}: invalid purpose name {name!r} "
                "(use [a-z][a-z0-9_]*; 'erasure_register' is reserved)"
            )
        short = name.split("_")[0]
        description = ""
        if isinstance(pv, MappingNode):
            for ak, av in _mapping(source, pv, f"purpose {name}"):
                attr = _scalar(source, ak, "purpose attribute")
                if attr == "short":
                    short = _scalar(source, av, "short")
                    if not _NAME.match(short):
                        raise PolicyError(f"{_where(source, av)}: invalid short name {short!r}")
                elif attr == "description":
                    description = _scalar(source, av, "description")
                else:
                    raise PolicyError(
                        f"{_where(source, ak)}: unknown purpose attribute {attr!r} "
                        "(expected short, description)"
                    )
        elif not (isinstance(pv, ScalarNode) and pv.value in ("", "~", "null")):
            raise PolicyError(f"{_where(source, pv)}: purpose {name} must be a mapping")
        if short in shorts:
            raise PolicyError(
                f"{_where(source, pk)}: short name {short!r} already used by {shorts[short]}"
            )
        shorts[short] = name
        purposes[name] = Purpose(name, short, description, pk.start_mark.line + 1)

    policy = Policy(source, purposes)
    for ek, ev in _mapping(source, top["rules"][1], "rules"):
        entity = _scalar(source, ek, "entity type")
        if entity not in ENTITY_TYPES:
            raise PolicyError(
                f"{_where(source, ek)}: unknown entity type {entity!r} "
                f"(known: {', '.join(sorted(ENTITY_TYPES))})"
            )
        for rk, rv in _mapping(source, ev, f"rules of {entity}"):
            purpose = _scalar(source, rk, "purpose")
            if purpose not in purposes:
                raise PolicyError(
                    f"{_where(source, rk)}: unknown purpose {purpose!r} for entity {entity} "
                    f"(declared: {', '.join(purposes)})"
                )
            gen_node: Node | None = None
            action_node: Node
            if isinstance(rv, ScalarNode):
                action, action_node = str(rv.value), rv
            else:
                attrs = {
                    _scalar(source, k, "rule key"): (k, v)
                    for k, v in _mapping(source, rv, f"rule {entity} x {purpose}")
                }
                for attr, (anode, _) in attrs.items():
                    if attr not in ("action", "generaliser"):
                        raise PolicyError(
                            f"{_where(source, anode)}: unknown rule key {attr!r} "
                            "(expected action, generaliser)"
                        )
                if "action" not in attrs:
                    raise PolicyError(f"{_where(source, rv)}: rule without 'action'")
                action_node = attrs["action"][1]
                action = _scalar(source, action_node, "action")
                gen_node = attrs["generaliser"][1] if "generaliser" in attrs else None
            if action not in ACTIONS:
                raise PolicyError(
                    f"{_where(source, action_node)}: unknown action {action!r} for "
                    f"{entity} x {purpose} (expected one of {', '.join(ACTIONS)})"
                )
            gen: str | None = None
            if action == "generalise":
                if gen_node is None:
                    raise PolicyError(
                        f"{_where(source, action_node)}: action generalise needs a generaliser "
                        f"for {entity} x {purpose}"
                    )
                gen = _scalar(source, gen_node, "generaliser")
                if gen not in GENERALISERS:
                    raise PolicyError(
                        f"{_where(source, gen_node)}: unknown generaliser {gen!r} "
                        f"(known: {', '.join(sorted(GENERALISERS))})"
                    )
                if entity not in GENERALISERS[gen].applies_to:
                    raise PolicyError(
                        f"{_where(source, gen_node)}: generaliser {gen!r} does not apply to "
                        f"entity {entity!r} (it applies to "
                        f"{', '.join(sorted(GENERALISERS[gen].applies_to))})"
                    )
            elif gen_node is not None:
                raise PolicyError(
                    f"{_where(source, gen_node)}: a generaliser is only allowed with "
                    f"action generalise (got {action})"
                )
            policy.rules[(entity, purpose)] = Rule(
                entity, purpose, action, gen, rk.start_mark.line + 1
            )
    if "landing" in top:
        for lk, lv in _mapping(source, top["landing"][1], "landing"):
            name = _scalar(source, lk, "key")
            if name != "retention":
                raise PolicyError(f"{_where(source, lk)}: unknown landing key {name!r}")
            value = _scalar(source, lv, "landing.retention")
            if value not in RETENTIONS:
                raise PolicyError(
                    f"{_where(source, lv)}: landing.retention must be one of "
                    f"{', '.join(RETENTIONS)} (got {value!r})"
                )
            policy.landing_retention = value
    if "credit" in top:
        policy.credit_protected = _credit_protected(source, top["credit"][1])
    return policy


def _credit_protected(source: str, node: Node) -> tuple[str, ...]:
    for ck, cv in _mapping(source, node, "credit"):
        name = _scalar(source, ck, "key")
        if name != "protected":
            raise PolicyError(
                f"{_where(source, ck)}: unknown credit key {name!r} (expected protected)"
            )
        if not isinstance(cv, SequenceNode):
            raise PolicyError(f"{_where(source, cv)}: credit.protected must be a list of columns")
        columns = [_scalar(source, item, "a protected column") for item in cv.value]
        for item, column in zip(cv.value, columns, strict=True):
            if not _COLUMN_NAME.fullmatch(column):
                raise PolicyError(
                    f"{_where(source, item)}: credit.protected holds {column!r}, which is not a "
                    "column name ([a-z][a-z0-9_]*)"
                )
        if len(set(columns)) != len(columns):
            raise PolicyError(f"{_where(source, cv)}: credit.protected names a column twice")
        return tuple(columns)
    return DEFAULT_PROTECTED


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate a policy file (default: ``privacy/policies/default.yaml``)."""
    p = Path(path) if path is not None else DEFAULT_POLICY_PATH
    return parse_policy(p.read_text(encoding="utf-8"), str(p))
