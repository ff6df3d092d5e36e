"""Closing the loop with every customer, not only detractors.

- Follow-ups: passives and promoters (and satisfied CSAT and CES answers, where configured) get a
  light follow-up: listed once per working day in the team's channel, taken with one click, worked
  in three steps (thank, ask, record what they said), with their own SLA and reminders
  (`rules`, `service`, `batch`, `nudges`, `messages`, `actions`, `views`).
- Recovery: a customer who answers again after their case's loop was closed is linked to that
  case, and whether closing the loop won them back is recorded and credited (`customers`,
  `recovery`), and reported (`report`).
- Outgoing events: loops closed and follow-ups done, told to a survey tool or CRM through a signed
  webhook delivered by the outbox (`outgoing`).
"""
