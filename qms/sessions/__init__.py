"""Instructor-led training sessions: their schedule, invitees, and the iCalendar invitations and
cancellations sent to them.
"""
