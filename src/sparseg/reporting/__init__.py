"""Reporting: tables for the terminal, plots and the self-contained HTML report."""

from sparseg.reporting.report import render_report

__all__ = ["render_report"]
