"""Reports on demand (HTML/JSON, CSV and PDF): transcripts, document training status, matrix
compliance, overdue, CAPA training linkage, deviation adequacy and the audit trail.
"""
