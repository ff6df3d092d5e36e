"""The outer loop: huddles find what keeps going wrong, improvements fix it, the bot measures and guards the fix.

- enums.py: stages and the moves between them, metrics, pattern dimensions, action and form ids;
- huddle.py / huddle_messages.py: each team's weekly huddle (recurring patterns, Start / Not now);
- service.py: improvements and their rules (stages, owners, actions, targets, permissions);
- measure.py + stats.py: the metric of a segment over a window, baselines, changes and intervals;
- checkins.py: weekly check-ins, Act's invitations and questions, Control's revisits and regressions;
- nudges.py: plan actions nudge their owners as case steps do;
- messages.py, checkin_messages.py, forms.py: pure builders of what people see; notify.py queues it;
- links.py: cases that fall in an active improvement's segment;
- report.py: the App Home section, the digest's section and `cxloop improvements`;
- commands.py (`/cx huddle`, `/cx improve`), actions.py (every button and form), jobs.py (due work).
"""
