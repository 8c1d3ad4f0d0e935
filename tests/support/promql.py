"""What a PromQL expression uses, read from its syntax tree (the ``promql-parser`` package,
bindings of the Rust PromQL parser): metric names, the labels it groups and matches on, and
the labels its result series carry (what an alert's ``$labels`` may name)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import promql_parser as promql

# Label names every series has once Prometheus scraped it (the target's own).
TARGET_LABELS = frozenset({"job", "instance"})


@dataclass
class Usage:
    metrics: set[str] = field(default_factory=set)
    # (label, where): a label the expression groups, matches or selects on.
    labels: set[tuple[str, str]] = field(default_factory=set)


def parse(expression: str) -> promql.Expr:
    """The syntax tree; ``ValueError`` with the parser's message when it is not PromQL."""
    return promql.parse(expression)


def usage(expression: str) -> Usage:
    found = Usage()

    def visit(node: promql.Expr) -> None:
        if isinstance(node, promql.VectorSelector):
            if node.name:
                found.metrics.add(node.name)
            for matcher in node.matchers.matchers:
                if matcher.name != "__name__":
                    found.labels.add((matcher.name, f"selector of {node.name}"))
        elif isinstance(node, promql.AggregateExpr) and node.modifier is not None:
            found.labels.update((label, "grouping") for label in node.modifier.labels)
        elif isinstance(node, promql.BinaryExpr) and node.modifier is not None:
            matching = node.modifier.matching
            if matching is not None:
                found.labels.update((label, "vector matching") for label in matching.labels)

    promql.walk(parse(expression), pre_visit=visit)
    return found


def result_labels(
    expression: str, series_labels: Mapping[str, frozenset[str]]
) -> frozenset[str] | None:
    """The labels every result series of ``expression`` carries (None: a scalar, or not
    known, e.g. after ``without``). ``series_labels``: each metric's label names."""
    return _result(parse(expression), series_labels)


def _result(node: promql.Expr, series: Mapping[str, frozenset[str]]) -> frozenset[str] | None:
    if isinstance(node, promql.VectorSelector):
        return series.get(node.name or "", frozenset()) | TARGET_LABELS
    if isinstance(node, promql.MatrixSelector):
        return _result(node.vector_selector, series)
    if isinstance(node, promql.AggregateExpr):
        modifier = node.modifier
        if modifier is None:
            return frozenset()
        if str(modifier.type).endswith("Without"):
            return None
        return frozenset(modifier.labels)
    if isinstance(node, promql.BinaryExpr):
        return _binary(node, series)
    if isinstance(node, promql.Call):
        vectors = [r for r in (_result(arg, series) for arg in node.args) if r is not None]
        if not vectors:
            return None
        labels = vectors[-1]
        return labels - {"le"} if node.func.name == "histogram_quantile" else labels
    if isinstance(node, (promql.ParenExpr, promql.UnaryExpr, promql.SubqueryExpr)):
        return _result(node.expr, series)
    return None  # number and string literals


def _binary(node: promql.BinaryExpr, series: Mapping[str, frozenset[str]]) -> frozenset[str] | None:
    left, right = _result(node.lhs, series), _result(node.rhs, series)
    if left is None or right is None:
        return left if right is None else right  # a vector and a scalar: the vector's
    operator = str(node.op)
    if operator in ("and", "unless"):
        return left
    return left & right  # `or`: either side's series; arithmetic and comparison: matched
