"""SCIM 2.0 provisioning (RFC 7643/7644): an HRIS or identity provider creates, moves, puts on
leave and terminates people through ``/scim/v2``; obligations follow in the same transaction.
"""
