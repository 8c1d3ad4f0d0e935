"""The report of ``orderflow-payment reconcile``: mismatched orders, then totals per currency."""

from __future__ import annotations

from orderflow_contracts.money import Currency, Money

from orderflow_payment.domain.reconciliation import OrderResult, ReconciliationRun


def _money(minor: int, currency: str) -> str:
    if currency in Currency.__members__:
        return format(Money.from_minor_units(minor, currency).amount, "f")
    return str(minor)


def _row(result: OrderResult) -> list[str]:
    f = result.figures
    return [
        str(f.order_id),
        f.currency,
        f.status or "-",
        _money(f.captured, f.currency),
        _money(f.refunded, f.currency),
        _money(f.ledger_receivable, f.currency),
        _money(f.provider_captured - f.provider_refunded, f.currency),
        "ok" if result.ok else ",".join(m.code for m in result.mismatches),
    ]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return lines


def format_report(run: ReconciliationRun, *, verbose: bool = False) -> str:
    report = run.report
    lines: list[str] = []
    shown = [o for o in report.orders if verbose or not o.ok]
    if shown:
        header = ["order", "cur", "status", "captured", "refunded", "ledger", "provider", "result"]
        lines += _table(header, [_row(o) for o in shown])
        for order in shown:
            for mismatch in order.mismatches:
                lines.append(f"  {order.figures.order_id} {mismatch.code}: {mismatch.detail}")
        lines.append("")

    per_currency: dict[str, list[int]] = {}
    for order in report.orders:
        f = order.figures
        totals = per_currency.setdefault(f.currency, [0, 0, 0, 0, 0, 0])
        totals[0] += 1
        totals[1] += f.captured
        totals[2] += f.refunded
        totals[3] += f.ledger_receivable
        totals[4] += f.provider_captured - f.provider_refunded
        totals[5] += 0 if order.ok else 1
    for currency in report.ledger_balances:
        per_currency.setdefault(currency, [0, 0, 0, 0, 0, 0])
    summary = [
        [
            currency,
            str(t[0]),
            _money(t[1], currency),
            _money(t[2], currency),
            _money(t[3], currency),
            _money(t[4], currency),
            _money(report.ledger_balances.get(currency, 0), currency),
            str(t[5]),
        ]
        for currency, t in sorted(per_currency.items())
    ]
    header = [
        "currency",
        "orders",
        "captured",
        "refunded",
        "ledger receivable",
        "provider net",
        "ledger sum",
        "mismatched",
    ]
    lines += _table(header, summary)
    for mismatch in report.ledger_mismatches:
        lines.append(f"  {mismatch.code}: {mismatch.detail}")
    lines.append("")
    mismatched = sum(1 for o in report.orders if not o.ok)
    lines.append(
        f"{len(report.orders)} order(s) checked, {mismatched} mismatched, "
        f"{len(run.selection.in_flight)} in flight (skipped), "
        f"{len(report.ledger_mismatches)} ledger imbalance(s)"
    )
    lines.append("RECONCILED" if report.ok else f"MISMATCHES: {len(report.mismatches)}")
    return "\n".join(lines)
