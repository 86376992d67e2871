"""The spine of GxP Bridge: settings, database and unit of work, domain events, outbox,
audit trail, people, accounts and e-signatures. Imports no other GxP Bridge package.
"""
