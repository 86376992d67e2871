"""Controlled documents: documents, versions, controlled files, review and approval, effective
dates; and the training items and versions that deliver them.
"""
