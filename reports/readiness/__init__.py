"""The governance readiness report: the checklist enterprise clients and regulators in the region
ask an AI team to demonstrate (data, deletion, cross-border, evaluations in the users' languages,
oversight, explainability, the strictest market), each question answered from Lup's records
with figures, links to the records behind them and the gaps found.
"""

from reports.readiness.report import Period, readiness_report, readiness_report_signed

__all__ = ["Period", "readiness_report", "readiness_report_signed"]
