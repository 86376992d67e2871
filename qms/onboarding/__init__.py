"""Onboarding a site: the document register and legacy training records imported from files,
identity reconciliation (LTI accounts, xAPI actors, HR people) and the signed day-0 cut-over report.
"""
