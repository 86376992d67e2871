"""Notifications: e-mail notices about training (digest of new assignments, reminders, overdue
notices, escalations, approvals, change controls, session invitations) and signed webhooks, all
recorded per person and delivered through the outbox after commit.
"""
